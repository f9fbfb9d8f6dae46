// A matrix-js-sdk client with its Rust crypto (the stack of Element Web).
//
// Reports: {"event":"ready", ed25519, curve25519} once the first sync is
// done; {"event":"message", room_id, event_id, sender, body, encrypted}
// for every m.room.message it could read (decrypted if it was encrypted);
// {"event":"undecryptable", ...} for an encrypted event it cannot decrypt
// yet (the SDK retries when the room key arrives); {"event":"member",
// room_id, user_id, membership} for every membership change.
//
// Commands: {"cmd":"join", room_id, via} → {"event":"joined", encrypted}
// once the joined room's state, encryption included, has been synced (via,
// optional, lists the servers to join a remote room through);
// {"cmd":"send", room_id, body} → {"event":"sent", event_id};
// {"cmd":"bootstrap", password} sets up cross-signing, secret storage and
// key backup → {"event":"bootstrapped", recovery_key};
// {"cmd":"dehydrate"} rehydrates the dehydrated device if there is one,
// then uploads a new one → {"event":"dehydrated", room_keys, to_device}.
// {"cmd":"restore"} loads the key backup's key from secret storage and
// restores the backup → {"event":"restored", imported, total}.
// A client started with HAFEN_RECOVERY_KEY (a recovery_key reported by
// bootstrap) reads secret storage with it; its "dehydrate" takes the
// cross-signing keys from there first.
import "fake-indexeddb/auto";
import { CryptoEvent, decodeRecoveryKey } from "matrix-js-sdk/lib/crypto-api/index.js";
import { commands, emit, fail, newClient, sdk, startAndWaitPrepared } from "./lib.mjs";

// secretStorageKey is the private key of the default secret storage key.
let secretStorageKey = process.env.HAFEN_RECOVERY_KEY ? decodeRecoveryKey(process.env.HAFEN_RECOVERY_KEY) : null;

const client = newClient({
    cryptoCallbacks: {
        getSecretStorageKey: async ({ keys }) => {
            const keyId = Object.keys(keys)[0];
            return secretStorageKey && keyId ? [keyId, secretStorageKey] : null;
        },
    },
});

function report(ev) {
    if (ev.isDecryptionFailure()) {
        emit({ event: "undecryptable", room_id: ev.getRoomId(), event_id: ev.getId(), reason: ev.decryptionFailureReason });
    } else if (ev.getType() === "m.room.message") {
        emit({
            event: "message",
            room_id: ev.getRoomId(),
            event_id: ev.getId(),
            sender: ev.getSender(),
            body: ev.getContent().body,
            encrypted: ev.isEncrypted(),
        });
    }
}

// An encrypted event is reported once its decryption ends (successfully
// or not; a later success is reported again), a plain one at once.
client.on(sdk.MatrixEventEvent.Decrypted, report);
client.on(sdk.RoomEvent.Timeline, (ev) => {
    if (!ev.isEncrypted()) report(ev);
});

client.on(sdk.RoomStateEvent.Members, (ev, state, member) => {
    emit({ event: "member", room_id: member.roomId, user_id: member.userId, membership: member.membership });
});

// synced resolves once the client has synced its join to roomId and its
// crypto has taken up the room's encryption, if any; it tells whether the
// room is encrypted.
async function synced(roomId) {
    for (;;) {
        const room = client.getRoom(roomId);
        if (room?.getMyMembership() === "join") {
            const encrypted = await client.getCrypto().isEncryptionEnabledInRoom(roomId);
            if (encrypted || !room.currentState.getStateEvents("m.room.encryption", "")) return encrypted;
        }
        await new Promise((resolve) => setTimeout(resolve, 20));
    }
}

try {
    await client.initRustCrypto({ useIndexedDB: false });
    await startAndWaitPrepared(client);
    const keys = await client.getCrypto().getOwnDeviceKeys();
    emit({ event: "ready", ed25519: keys.ed25519, curve25519: keys.curve25519 });
    for await (const cmd of commands()) {
        switch (cmd.cmd) {
            case "join":
                await client.joinRoom(cmd.room_id, cmd.via ? { viaServers: cmd.via } : {});
                emit({ event: "joined", room_id: cmd.room_id, encrypted: await synced(cmd.room_id) });
                break;
            case "send": {
                const { event_id } = await client.sendTextMessage(cmd.room_id, cmd.body);
                emit({ event: "sent", room_id: cmd.room_id, event_id });
                break;
            }
            case "bootstrap": {
                const crypto = client.getCrypto();
                await crypto.bootstrapCrossSigning({
                    authUploadDeviceSigningKeys: (makeRequest) =>
                        makeRequest({
                            type: "m.login.password",
                            identifier: { type: "m.id.user", user: client.getUserId() },
                            password: cmd.password,
                        }),
                });
                const key = await crypto.createRecoveryKeyFromPassphrase();
                secretStorageKey = key.privateKey;
                await crypto.bootstrapSecretStorage({
                    createSecretStorageKey: async () => key,
                    setupNewSecretStorage: true,
                    setupNewKeyBackup: true,
                });
                emit({ event: "bootstrapped", recovery_key: key.encodedPrivateKey });
                break;
            }
            case "dehydrate": {
                const crypto = client.getCrypto();
                if (!(await crypto.isDehydrationSupported())) throw new Error("the server does not support dehydrated devices");
                if (!(await crypto.isCrossSigningReady())) await crypto.bootstrapCrossSigning({});
                let counts = { room_keys: 0, to_device: 0 };
                const progress = (roomKeys, toDevice) => (counts = { room_keys: roomKeys, to_device: toDevice });
                const failed = (message) => fail(`rehydration failed: ${message}`);
                client.on(CryptoEvent.RehydrationProgress, progress);
                client.on(CryptoEvent.RehydrationError, failed);
                await crypto.startDehydration({ rehydrate: true });
                client.off(CryptoEvent.RehydrationProgress, progress);
                client.off(CryptoEvent.RehydrationError, failed);
                emit({ event: "dehydrated", ...counts });
                break;
            }
            case "restore": {
                const crypto = client.getCrypto();
                await crypto.loadSessionBackupPrivateKeyFromSecretStorage();
                const { imported, total } = await crypto.restoreKeyBackup();
                emit({ event: "restored", imported, total });
                break;
            }
            default:
                throw new Error(`unknown command ${cmd.cmd}`);
        }
    }
} catch (err) {
    fail(err);
}
client.stopClient();
process.exit(0);
