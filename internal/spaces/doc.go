// Package spaces walks space trees: the rooms a space lists in its
// m.space.child state events, and theirs, depth first, as far as the
// asking user (or, over federation, the asking server) may see them. It
// answers the client's /hierarchy, with pagination, and the federation's
// /hierarchy; rooms this server is not in are asked of the servers their
// m.space.child events name. It only reads: summaries come from the
// directory package, state and memberships from the store.
//
// Spec: https://spec.matrix.org/v1.19/client-server-api/#spaces
package spaces
