// Shared set-up of the scripts the Go tests in cmd/hafen run against Hafen.
//
// Protocol: a script reads its credentials from the environment
// (HAFEN_BASE_URL, HAFEN_USER_ID, HAFEN_ACCESS_TOKEN, HAFEN_DEVICE_ID),
// reads commands as JSON lines on stdin and writes what happens as JSON
// lines on stdout. Everything the SDK logs goes to stderr, so stdout holds
// only the protocol.
import { format } from "node:util";
import { createInterface } from "node:readline";

for (const level of ["log", "info", "debug", "warn", "error", "trace"]) {
    console[level] = (...args) => process.stderr.write(format(...args) + "\n");
}

const sdk = await import("matrix-js-sdk");
const { logger } = await import("matrix-js-sdk/lib/logger.js");
logger.setLevel(process.env.HAFEN_JS_LOG_LEVEL || "warn");

export { sdk };

// emit writes one line of the protocol.
export function emit(obj) {
    process.stdout.write(JSON.stringify(obj) + "\n");
}

// fail reports an error to the Go test and exits.
export function fail(err) {
    emit({ event: "error", error: String(err?.stack || err) });
    process.exit(1);
}

process.on("unhandledRejection", fail);

// newClient returns a client logged in with the test's credentials.
export function newClient(opts = {}) {
    const env = process.env;
    return sdk.createClient({
        baseUrl: env.HAFEN_BASE_URL,
        userId: env.HAFEN_USER_ID,
        accessToken: env.HAFEN_ACCESS_TOKEN,
        deviceId: env.HAFEN_DEVICE_ID,
        ...opts,
    });
}

// startAndWaitPrepared starts client with the options Element Web starts
// it with, and resolves once its first sync is done (sync state PREPARED),
// emitting every sync state it passes through.
export function startAndWaitPrepared(client) {
    return new Promise((resolve, reject) => {
        client.on(sdk.ClientEvent.Sync, (state, prevState, data) => {
            if (state !== prevState) {
                emit({ event: "sync", state, error: data?.error ? String(data.error) : undefined });
            }
            if (state === "PREPARED") resolve();
            if (state === "ERROR" && prevState === null) reject(data?.error);
        });
        client
            .startClient({ initialSyncLimit: 20, lazyLoadMembers: true, threadSupport: true, pendingEventOrdering: "detached" })
            .catch(reject);
    });
}

// commands yields each JSON command read from stdin.
export async function* commands() {
    for await (const line of createInterface({ input: process.stdin })) {
        if (line.trim() !== "") yield JSON.parse(line);
    }
}
