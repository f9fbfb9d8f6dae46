// Starts a plain client (no crypto) and exits once its first sync has
// reached the PREPARED state.
import { emit, fail, newClient, startAndWaitPrepared } from "./lib.mjs";

const client = newClient();
try {
    await startAndWaitPrepared(client);
    emit({ event: "rooms", rooms: client.getRooms().map((r) => ({ room_id: r.roomId, name: r.name })) });
} catch (err) {
    fail(err);
}
client.stopClient();
process.exit(0);
