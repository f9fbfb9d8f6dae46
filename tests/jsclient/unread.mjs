// Starts a plain client (no crypto) and reports each room's unread
// notification count as the SDK holds it (getUnreadNotificationCount, the
// number on Element's room badge) after each sync that changed it. The
// command {"read": ROOM_ID} sends a read receipt for the newest event of
// the room's live timeline, as Element does when the user opens the room.
import { commands, emit, fail, newClient, sdk, startAndWaitPrepared } from "./lib.mjs";

const client = newClient();
try {
    const last = new Map();
    client.on(sdk.ClientEvent.Sync, () => {
        for (const room of client.getRooms()) {
            const total = room.getUnreadNotificationCount(sdk.NotificationCountType.Total);
            if (last.get(room.roomId) !== total) {
                last.set(room.roomId, total);
                emit({ event: "unread", room_id: room.roomId, total });
            }
        }
    });
    await startAndWaitPrepared(client);
    emit({ event: "ready" });
    for await (const cmd of commands()) {
        if (cmd.read) {
            const room = client.getRoom(cmd.read);
            const events = room.getLiveTimeline().getEvents();
            await client.sendReadReceipt(events[events.length - 1]);
            emit({ event: "receipt_sent", room_id: cmd.read });
        }
    }
} catch (err) {
    fail(err);
}
client.stopClient();
process.exit(0);
