// Starts a plain client (no crypto) and reports every member event of its
// live timelines with the previous content the SDK sees for it
// (getPrevContent), from which Element Web words the event: a join after a
// join is a profile change, a join after nothing is a join. It runs until
// its input closes.
import { commands, emit, fail, newClient, sdk, startAndWaitPrepared } from "./lib.mjs";

const client = newClient();
try {
    client.on(sdk.RoomEvent.Timeline, (ev, room, toStartOfTimeline) => {
        if (toStartOfTimeline || ev.getType() !== "m.room.member") return;
        const content = ev.getContent();
        const prev = ev.getPrevContent();
        emit({
            event: "member",
            state_key: ev.getStateKey(),
            membership: content.membership ?? null,
            displayname: content.displayname ?? null,
            prev_membership: prev.membership ?? null,
            prev_displayname: prev.displayname ?? null,
        });
    });
    await startAndWaitPrepared(client);
    emit({ event: "ready" });
    for await (const _ of commands()) {
        // No commands: the script ends when its input closes.
    }
} catch (err) {
    fail(err);
}
client.stopClient();
process.exit(0);
