// Starts a plain client (no crypto) with Element Web's options (members
// lazy-loaded) and reports the name the SDK gives each room once its
// first sync is done: for a room without a name, the one Element shows,
// made from the heroes of the room summary and their member events.
import { emit, fail, newClient, startAndWaitPrepared } from "./lib.mjs";

const client = newClient();
try {
    await startAndWaitPrepared(client);
    for (const room of client.getRooms()) emit({ event: "room", room_id: room.roomId, name: room.name });
    emit({ event: "done" });
} catch (err) {
    fail(err);
}
client.stopClient();
process.exit(0);
