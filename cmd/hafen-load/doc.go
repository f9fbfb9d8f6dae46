// Command hafen-load measures a Matrix homeserver over the Client-Server API.
//
// It talks to any homeserver by its base URL, using only the v3 endpoints
// every server has: it registers users, creates one public room, lets the
// other users join it, and then has K senders each send M messages into the
// room as fast as the server answers while S other users long-poll /sync on
// the same room. For every message it records how long the send took
// (request start to 200) and when each syncer saw the message in a /sync
// response. It reports throughput, latency percentiles, errors, messages
// that never arrived and, with --pid, the server's resident memory before and
// after the run and the CPU time it used (read from /proc/PID/status and
// /proc/PID/stat, so the server must run on the same machine), in all and
// from the first send on. It also reports its own CPU time from the first
// send on: run on the server's machine, the load tool takes CPU the server
// could have used, more so with --receipts.
//
// Usage:
//
//	hafen-load --url http://127.0.0.1:8008 --open-registration
//	hafen-load --url http://127.0.0.1:8008 --register-shared-secret SECRET \
//		--senders 5 --messages 40 --syncers 5 --pid 1234 --json
//
// # Two federated servers
//
// With --remote-url the syncers are users of a second homeserver that
// federates with the first: the senders register on --url and the first of
// them creates the room there, the syncers register on --remote-url and join
// the room over federation (through the server of the room's creator, given
// as via and server_name). Before the measured phase the first sender sends
// one warm-up message and the run waits until every syncer has seen it, so
// that the first contact between the servers (key fetches, connections) is
// not measured. Send→sync latency is then send→seen on the other server.
// --remote-pid reads the second server's memory and CPU time like --pid.
//
//	hafen-load --url http://127.0.0.1:8008 --remote-url http://127.0.0.1:8018 \
//		--open-registration --senders 5 --messages 40 --syncers 2
//
// scripts/federation-pair.sh starts a pair of Hafen servers and a pair of
// Dendrite servers on loopback and runs this mode against each in turn.
//
// # Read receipts
//
// With --receipts each syncer also posts an m.read receipt
// (POST /rooms/{roomId}/receipt/m.read/{eventId}) for the newest message of
// every /sync answer, as a client does, beside its polling: one receipt is
// in flight at a time and a newer message replaces one still waiting. The
// report counts the receipts sent, failed and superseded; failures count as
// errors of the phase "receipt". --receipt-interval also spaces one
// syncer's receipts by at least that long, as Element Web does (at most one
// per 500 ms); without it a receipt goes out as soon as the previous one is
// answered. Comparing runs with and without --receipts shows what the
// receipts cost the message path. Hafen counts each receipt toward its
// device's sync pacing, so without an interval the syncers get fewer
// answers, and post fewer receipts, than with receipts off. Compare runs
// of a few thousand messages, alternated in one session: on a small
// machine runs of a thousand vary by a fifth between rounds, more than
// Element-paced receipts cost. The syncers read every
// /sync answer off the connection but skip the rooms' ephemeral events
// (the receipts of all members) before decoding it, so that the load
// tool's own decoding, on a machine shared with the server, does not
// count as the server's loss.
//
// # Registration
//
// With --open-registration users register through POST /register and
// User-Interactive Authentication with the m.login.dummy stage: the first
// request answers 401 with the flows and a session, and the second one
// carries {"type": "m.login.dummy", "session": …}. With
// --register-shared-secret users register through the shared-secret
// registration endpoint /_synapse/admin/v1/register (a nonce, then an
// HMAC-SHA1 over nonce, username, password and admin flag), which Synapse,
// Dendrite and Conduit serve; --remote-register-shared-secret gives the
// second server's secret when it differs.
//
// # Measurements
//
// Each message's content carries a unique id ("hafen_load_id") so a syncer
// can match what it receives to what was sent. Send latency is the time from
// the start of the PUT /rooms/{roomId}/send request to its 200 answer.
// Send→sync latency is the time from the same start to the moment a syncer
// has read the /sync response that holds the message; it is reported over all
// syncer–message pairs and, per message, until the last syncer has seen it.
// Percentiles (p50, p95, p99) use the nearest-rank method.
//
// # Bounds
//
// Every request has its own deadline, the whole run has the --timeout
// deadline, each sender sends exactly M messages, and each syncer polls at
// most a fixed number of times. The run ends when every syncer has seen every
// message that was sent, or when the deadline passes; messages that were not
// seen are reported as missing.
//
// The exit status is 0 when every message was sent and seen by every syncer,
// 1 when the run finished with errors or missing messages (the report is
// still printed), and 2 when the flags are wrong or the setup failed.
package main
