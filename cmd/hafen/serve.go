package main

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/hafenchat/hafen/internal/account"
	"github.com/hafenchat/hafen/internal/accountdata"
	"github.com/hafenchat/hafen/internal/clientapi"
	"github.com/hafenchat/hafen/internal/clientsync"
	"github.com/hafenchat/hafen/internal/config"
	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/core/roomversion"
	"github.com/hafenchat/hafen/internal/core/signing"
	"github.com/hafenchat/hafen/internal/directory"
	"github.com/hafenchat/hafen/internal/e2ee"
	"github.com/hafenchat/hafen/internal/federation"
	"github.com/hafenchat/hafen/internal/fedevents"
	"github.com/hafenchat/hafen/internal/fedfetch"
	"github.com/hafenchat/hafen/internal/fedjoin"
	"github.com/hafenchat/hafen/internal/fedsender"
	"github.com/hafenchat/hafen/internal/filter"
	"github.com/hafenchat/hafen/internal/httpapi"
	"github.com/hafenchat/hafen/internal/media"
	"github.com/hafenchat/hafen/internal/profile"
	"github.com/hafenchat/hafen/internal/push"
	"github.com/hafenchat/hafen/internal/receipts"
	"github.com/hafenchat/hafen/internal/relations"
	"github.com/hafenchat/hafen/internal/reports"
	"github.com/hafenchat/hafen/internal/room"
	"github.com/hafenchat/hafen/internal/search"
	"github.com/hafenchat/hafen/internal/spaces"
	"github.com/hafenchat/hafen/internal/store"
	"github.com/hafenchat/hafen/internal/stream"
	"github.com/hafenchat/hafen/internal/userdir"
)

// shutdownTimeout bounds how long in-flight requests may take to finish.
const shutdownTimeout = 10 * time.Second

// started is what serve reports once its listeners are up (tests listen
// on port 0 and watch the long-polling syncs).
type started struct {
	client, federation net.Addr
	// syncWaiting returns how many /sync requests are long-polling.
	syncWaiting func() int
}

// listening receives the started server's details.
type listening func(started)

// serveHooks are what tests put into a server beyond its configuration;
// the hafen command gives none.
type serveHooks struct {
	// resolver answers the federation client's DNS queries (a test
	// federation's own names); the system's resolver when nil.
	resolver federation.Resolver
}

// serve runs the server until ctx is canceled. Start order: config, logger,
// locks, listeners, data directory and config file, store, identity and
// signing key, TLS certificate (openResources), then the services and the
// HTTP servers. Shutdown runs in reverse: long-polls answer at once, the
// HTTP servers drain, then the store closes and the locks are released.
func serve(ctx context.Context, args []string, lookupEnv func(string) (string, bool), stderr io.Writer, ready listening, hooks ...serveHooks) (err error) {
	var hook serveHooks
	for _, h := range hooks {
		hook = h
	}
	loaded, err := config.Load("hafen serve", args, lookupEnv)
	if err != nil {
		return err
	}
	cfg := loaded.Config
	logger, err := newLogger(cfg.Log, stderr)
	if err != nil {
		return err
	}
	memLimit, err := applyMemoryLimit(cfg)
	if err != nil {
		return err
	}
	defer memLimit.restore()
	res, err := openResources(ctx, loaded, logger)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, res.close()) }()
	db := res.db

	pos, err := db.MaxStreamPos(ctx)
	if err != nil {
		return fmt.Errorf("read stream position: %w", err)
	}
	fed, err := newFederation(ctx, cfg, db, res.key, logger, hook.resolver)
	if err != nil {
		return err
	}
	defer fed.client.Close()
	// The event path publishes committed events to events; each consumer
	// (sync, the federation sender) reads them on a goroutine it owns, stopped before the
	// store closes.
	events := stream.New(pos, 0)
	rooms := room.New(room.Config{DB: db, ServerName: id.ServerName(cfg.ServerName), Key: res.key, RemoteKeys: fed.keys.Lookup, Logger: logger, Stream: events,
		Inviter: &fedjoin.Inviter{Client: fed.client, Keys: fed.keys}})
	// Deferred after res.close, so it runs before the store closes.
	defer rooms.Close()
	adPos, err := db.MaxAccountDataPos(ctx)
	if err != nil {
		return err
	}
	rcPos, err := db.MaxReceiptPos(ctx)
	if err != nil {
		return err
	}
	// Sync's unread counters evaluate every event's push rules for the
	// users who sync; the push notifier reuses those evaluations.
	pushEvals := push.NewEvaluations()
	syncer := clientsync.New(clientsync.Config{DB: db, Rooms: rooms, Logger: logger, Stream: events, StreamPos: pos,
		AccountDataPos: adPos, ReceiptPos: rcPos, Presence: presenceConfig(cfg), PushEvaluations: pushEvals,
		RingBytes: syncRingBytes(memLimit.base)})
	if err := syncer.Start(ctx); err != nil {
		return fmt.Errorf("start sync: %w", err)
	}
	defer syncer.Stop()
	// The federation sender queues the events of local users for the
	// other servers in their rooms and sends them, on goroutines it owns.
	// The keys of end-to-end encryption: remote users' keys are asked of
	// their servers, local device list changes announced to them.
	keys := &e2ee.Service{DB: db, ServerName: id.ServerName(cfg.ServerName), Notify: syncer.WakeUsers, Remote: fed.client, Logger: logger}
	// Its background device list resyncs stop before the federation
	// client and the store close.
	defer keys.Close()
	sender, err := fedsender.New(fedsender.Config{
		DB: db, Stream: events, Client: fed.client, ServerName: id.ServerName(cfg.ServerName), From: pos,
		MaxBackoff: time.Duration(cfg.FederationMaxBackoffSeconds) * time.Second, Logger: logger,
		DeviceLists: keys,
	})
	if err != nil {
		return err
	}
	if err := sender.Start(ctx); err != nil {
		return err
	}
	defer sender.Stop()
	fed.api.Contacted = sender.Contacted
	keys.Federation = sender

	// The full-text search index follows the stream on a goroutine of its
	// own consumer, off the send path.
	searchIndex := search.NewIndexer(search.IndexerConfig{DB: db, Stream: events, Logger: logger})
	if err := searchIndex.Start(ctx); err != nil {
		return fmt.Errorf("start search indexer: %w", err)
	}
	defer searchIndex.Stop()

	cs := newClientServer(cfg, db)
	// Other servers' media is fetched over federation and cached; this
	// server's is served to them.
	cs.Media.Remote = media.FederationFetcher{Client: fed.client}
	cs.Media.Logger = logger
	fed.api.Media = cs.Media
	// With the legacy endpoints off, media stored before they were first
	// switched off stays available to them (the spec's freeze).
	if cs.LegacyFrozenSince, err = cs.Media.FreezeLegacy(ctx, !cfg.Media.LegacyUnauthenticated); err != nil {
		return err
	}
	if cfg.Media.URLPreview.Enabled {
		cs.Previews = newPreviewer(cfg.Media.URLPreview, cs.Media)
	}
	// The media janitor removes expired reservations and files without a
	// row, hourly, until shutdown.
	janitorCtx, stopJanitor := context.WithCancel(ctx)
	janitorDone := make(chan struct{})
	go func() {
		defer close(janitorDone)
		cs.Media.Run(janitorCtx, 0)
	}()
	defer func() {
		stopJanitor()
		<-janitorDone
	}()
	cs.Sync = syncer
	syncer.SetE2EE(keys)
	cs.Keys, cs.KeyBackups, cs.ToDevice, cs.DehydratedDevices = keys, keys, keys, keys
	// The account service tells the keys' cache when devices go.
	accounts := &account.Service{DB: db, DevicesRemoved: keys.DevicesRemoved}
	cs.Store, cs.ShortTokens, cs.Refresher = accounts, accounts, accounts
	serverName := id.ServerName(cfg.ServerName)
	dir := &directory.Service{ServerName: serverName, DB: db, Rooms: rooms, Remote: fed.client}
	profiles := &profile.Service{ServerName: serverName, DB: db, Rooms: rooms, Logger: logger, RoomInterval: profile.DefaultRoomInterval}
	// Profile changes are carried into the users' rooms in the
	// background; the worker stops before the store closes.
	profileCtx, stopProfiles := context.WithCancel(context.Background())
	profilesDone := make(chan struct{})
	go func() {
		defer close(profilesDone)
		profiles.Run(profileCtx)
	}()
	defer func() {
		stopProfiles()
		<-profilesDone
	}()
	// History of other servers' rooms: after a remote join, and when
	// /messages reaches the start of what this server has.
	history := &fedfetch.Fetcher{ServerName: serverName, Remote: fed.client, Keys: fed.keys, Rooms: rooms, DB: db, Logger: logger}
	// Failed fetches of gaps in rooms' history are retried with backoff,
	// those recorded before a restart included.
	history.StartRetrier()
	// Stops fetching the events of gaps before the store closes.
	defer history.Close()
	// Rooms of other servers are joined, and their aliases and users'
	// profiles looked up, over federation.
	remote := &fedjoin.Service{
		Joiner:  &fedjoin.Joiner{ServerName: serverName, Key: res.key, Client: fed.client, Keys: fed.keys},
		Rooms:   rooms,
		History: history,
		Logger:  logger,
	}
	// Stops fetching history for joins before the store closes.
	defer remote.Close()
	profiles.Remote = remote
	// The user directory's index follows the stream on a goroutine of its
	// own consumer; it asks other servers for the profiles of their users
	// met only in private rooms.
	users := userdir.New(userdir.Config{DB: db, Stream: events, ServerName: serverName, Logger: logger, Profiles: remote})
	if err := users.Start(ctx); err != nil {
		return fmt.Errorf("start user directory: %w", err)
	}
	defer users.Stop()
	cs.UserDirectory = users
	rels := &relations.Service{DB: db}
	syncer.SetAggregator(rels)
	cs.Rooms = &clientapi.Rooms{
		Service:     rooms,
		Store:       db,
		Directory:   dir,
		Profiles:    profiles,
		RemoteJoins: remote,
		Relations:   rels,
		History:     history,
		Search:      &search.Service{DB: db, IndexDB: db.Derived(), Index: searchIndex},
	}
	spaceTrees := &spaces.Service{ServerName: serverName, DB: db, Remote: fed.client, Logger: logger}
	cs.Spaces = spaceTrees
	cs.Reports = &reports.Service{DB: db, ServerName: serverName}
	cs.Filters = &filter.Service{DB: db}
	// The push consumer finds each local user's notifications on a
	// goroutine of its own.
	notifier := push.NewNotifier(push.NotifierConfig{DB: db, Stream: events, Rooms: rooms, ServerName: serverName, From: pos,
		Evaluations: pushEvals, Logger: logger})
	if err := notifier.Start(ctx); err != nil {
		return fmt.Errorf("start push notifier: %w", err)
	}
	defer notifier.Stop()
	cs.Push = &push.Service{DB: db}
	ads := &accountdata.Service{DB: db, Changed: func(user id.UserID, roomID id.RoomID, typ string, content json.RawMessage, pos int64) {
		syncer.AccountDataChanged(user, roomID, typ, content, pos)
		notifier.AccountDataChanged(user, roomID, typ, content, pos)
	}}
	cs.AccountData = ads
	rels.Ignored = ads.IgnoredUsers
	rcs := &receipts.Service{DB: db, AccountData: ads, Changed: syncer.ReceiptsAdded, ServerName: serverName, Federation: sender}
	cs.Receipts = rcs
	// Typing goes to sync's memory and, for rooms with users of other
	// servers, to those servers.
	typing := &fedsender.Typing{Local: syncer, Sender: sender}
	defer typing.Stop()
	cs.Typing = typing
	cs.Presence = syncer
	clientRouter := httpapi.NewRouter()
	cs.Routes(clientRouter)
	fedRouter := httpapi.NewRouter()
	fedRouter.Handle("GET /.well-known/matrix/server", clientRouter)
	edus := fedevents.EDUs{Typing: syncer, Receipts: rcs, Devices: keys}
	if cfg.Presence == "on" {
		// Presence crosses servers: local changes go to the servers
		// sharing a room, other servers' updates come into sync.
		syncer.FederatePresence(func(p clientsync.Presence) { sender.QueuePresence(presenceUpdate(p)) })
		edus.Presence = syncer.RemotePresence
	}
	inbound := &fedevents.Service{ServerName: serverName, DB: db, Rooms: rooms, Members: rooms, Key: res.key, Keys: fed.keys, Remote: fed.client, States: history, Gaps: history, Logger: logger,
		EDUs: edus}
	defer inbound.Close() // after the listeners closed, before the store
	fed.api.Events = inbound
	fed.api.Profiles, fed.api.Directory, fed.api.E2EE, fed.api.Spaces = profiles, dir, keys, spaceTrees
	fed.api.OpenID = accounts
	fed.api.Routes(fedRouter)

	trusted, err := cfg.TrustedProxyPrefixes()
	if err != nil {
		return err
	}
	clientLn := res.clientLn
	fedLn := tls.NewListener(res.fedLn, &tls.Config{Certificates: []tls.Certificate{res.cert}, MinVersion: tls.VersionTLS12})
	// inflight lets shutdown wait for every handler before the store
	// closes.
	var inflight httpapi.InFlight
	clientSrv := httpapi.NewServer(inflight.Wrap(httpapi.TrustProxies(trusted, httpapi.Middleware(logger.With("listener", "client"), clientRouter))), logger)
	fedSrv := httpapi.NewServer(inflight.Wrap(httpapi.Middleware(logger.With("listener", "federation"), fedRouter)), logger)
	clientSrv.ConnState, fedSrv.ConnState = memLimit.connState, memLimit.connState
	errc := make(chan error, 2)
	for _, l := range []struct {
		srv *http.Server
		ln  net.Listener
	}{{clientSrv, clientLn}, {fedSrv, fedLn}} {
		go func() {
			if err := l.srv.Serve(l.ln); !errors.Is(err, http.ErrServerClosed) {
				errc <- err
				return
			}
			errc <- nil
		}()
	}
	logger.Info("hafen started", "server_name", cfg.ServerName, "client", clientLn.Addr().String(),
		"federation", fedLn.Addr().String(), "registration", cfg.Registration.Enabled, "rate_limit", cfg.RateLimit.Enabled,
		"memory_limit", cfg.MemoryLimit)
	warnLocalhost(logger, cfg, clientLn.Addr(), fedLn.Addr())
	if res.newServer {
		firstStartNote(stderr, logger, loaded, clientLn.Addr())
	}
	if ready != nil {
		ready(started{client: clientLn.Addr(), federation: fedLn.Addr(), syncWaiting: syncer.Waiting})
	}

	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-errc:
	}
	logger.Info("hafen stopping")
	// Long-polling syncs answer now with what they have, so draining
	// does not wait out their timeouts.
	syncer.StopWaiting()
	// The root context is done; shutdown gets its own deadline.
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	err = errors.Join(serveErr, fedSrv.Shutdown(sctx), clientSrv.Shutdown(sctx))
	if err != nil {
		// Requests that outlived the deadline lose their connections
		// (their contexts end) and get a moment to return.
		err = errors.Join(err, fedSrv.Close(), clientSrv.Close())
		wctx, wcancel := context.WithTimeout(context.Background(), shutdownTimeout)
		defer wcancel()
		if werr := inflight.Wait(wctx); werr != nil {
			// Closing the store under running handlers could fail their
			// writes half-way; leave it to the end of the process.
			logger.Error("requests still running at shutdown; store left open", "err", werr)
			res.leaveOpen()
			return errors.Join(err, werr)
		}
		return err
	}
	logger.Info("hafen stopped")
	// The deferred closes stop the room service and the store now that no
	// handler runs.
	return nil
}

// newClientServer builds the Client-Server API from the configuration.
func newClientServer(cfg config.Config, db *store.DB) *clientapi.Server {
	s := &clientapi.Server{
		ServerName: id.ServerName(cfg.ServerName),
		Store:      &account.Service{DB: db},
		Registration: clientapi.Registration{
			Enabled:      cfg.Registration.Enabled,
			RequireToken: cfg.Registration.RequireToken,
			SharedSecret: string(cfg.Registration.SharedSecret),
		},
		PublicBaseURL: cfg.PublicBaseURL,
		// Off at 0; config.Load checked the range.
		LoginTokenLifetime:  time.Duration(cfg.LoginTokenSeconds) * time.Second,
		AccessTokenLifetime: time.Duration(cfg.AccessTokenLifetimeSeconds) * time.Second,
		WellKnownServer:     cfg.WellKnownServer,
		Media: &media.Service{
			ServerName:     id.ServerName(cfg.ServerName),
			DB:             db,
			Files:          media.DirFiles{Root: cfg.MediaDir()},
			MaxUploadSize:  int64(cfg.Media.MaxUploadSize),
			MaxImagePixels: int64(cfg.Media.MaxImagePixels),
			MaxRemoteSize:  int64(cfg.Media.MaxRemoteSize),
			Quota:          int64(cfg.Media.UserQuota),
		},
		LegacyMedia: cfg.Media.LegacyUnauthenticated,
		TURN: clientapi.TURN{
			URIs:         cfg.TURN.URIs,
			SharedSecret: string(cfg.TURN.SharedSecret),
			Username:     cfg.TURN.Username,
			Password:     string(cfg.TURN.Password),
			Lifetime:     time.Duration(cfg.TURN.LifetimeSeconds) * time.Second,
		},
	}
	s.Support.Page = cfg.Support.Page
	for _, c := range cfg.Support.Contacts() {
		s.Support.Contacts = append(s.Support.Contacts, clientapi.SupportContact{MatrixID: c.MatrixID, EmailAddress: c.Email, Role: c.Role})
	}
	// Validated by config.Load.
	s.DefaultRoomVersion, _ = roomversion.Lookup(roomversion.ID(cfg.DefaultRoomVersion))
	if s.WellKnownServer == "" {
		_, port, _ := net.SplitHostPort(cfg.ListenFederation)
		s.WellKnownServer = net.JoinHostPort(hostOf(cfg.ServerName), port)
	}
	if cfg.RateLimit.Enabled {
		rl := cfg.RateLimit
		rate := func(r config.Rate) httpapi.Rate { return httpapi.Rate{PerSecond: r.PerSecond, Burst: r.Burst} }
		s.Limiter = httpapi.NewRateLimiter(map[string]httpapi.Rate{
			clientapi.ActionLogin:       rate(rl.Login),
			clientapi.ActionFailedLogin: rate(rl.FailedLogin),
			clientapi.ActionRegister:    rate(rl.Register),
			clientapi.ActionAccount:     rate(rl.Account),
			clientapi.ActionMessage:     rate(rl.Message),
			clientapi.ActionJoin:        rate(rl.Join),
			clientapi.ActionInvite:      rate(rl.Invite),
			clientapi.ActionCreateRoom:  rate(rl.CreateRoom),
			clientapi.ActionUpload:      rate(rl.Upload),
		})
	}
	return s
}

// newPreviewer builds the URL previewer: its client never connects to
// non-public addresses or the configured deny lists (validated by
// config.Load).
func newPreviewer(c config.URLPreview, m *media.Service) *media.Previewer {
	deny, _ := c.DenyPrefixes()
	client := federation.NewGuardedHTTPClient(federation.GuardConfig{
		Deny: deny,
		DenyHost: func(host string) error {
			if c.HostDenied(host) {
				return federation.ErrDeniedHost
			}
			return nil
		},
		Timeout:      media.DefaultPreviewTimeout,
		MaxRedirects: 5,
	})
	return &media.Previewer{Media: m, Client: client}
}

// openStore opens the configured database.
func openStore(ctx context.Context, cfg config.Config, logger *slog.Logger) (*store.DB, error) {
	db, err := store.OpenWith(ctx, databaseDSN(cfg), logger,
		store.Options{SQLiteSynchronous: store.SQLiteSynchronous(cfg.SQLiteSynchronous)})
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	return db, nil
}

// loadSigningKey reads the server's signing key file; a missing file is
// an error wrapping fs.ErrNotExist.
func loadSigningKey(path string, server id.ServerName) (signing.Key, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return signing.Key{}, fmt.Errorf("read signing key: %w", err)
	}
	keys, err := signing.ParseKeyFile(data, server)
	if err != nil {
		return signing.Key{}, fmt.Errorf("signing key file %s: %w", path, err)
	}
	return keys[0], nil
}

// createSigningKey writes a new ed25519 signing key file.
func createSigningKey(path string, server id.ServerName) (signing.Key, error) {
	k, err := generateSigningKey(server)
	if err != nil {
		return signing.Key{}, err
	}
	if err := writeKeyFile(path, k); err != nil {
		return signing.Key{}, err
	}
	return k, nil
}

// generateSigningKey returns a new ed25519 signing key with a random key
// ID.
func generateSigningKey(server id.ServerName) (signing.Key, error) {
	keyID, err := signing.ParseKeyID("ed25519:a_" + strings.ToLower(rand.Text()[:4]))
	if err != nil {
		return signing.Key{}, err
	}
	k, err := signing.GenerateKey(rand.Reader, server, keyID)
	if err != nil {
		return signing.Key{}, fmt.Errorf("generate signing key: %w", err)
	}
	return k, nil
}

// writeKeyFile writes k to a new key file, readable by its owner only.
func writeKeyFile(path string, k signing.Key) error {
	data, err := signing.MarshalKeyFile(k)
	if err != nil {
		return err
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		return fmt.Errorf("write signing key: %w", err)
	}
	return nil
}

// syncRingBytes sizes sync's ring of recent events from the memory limit
// in bytes: a sixteenth of it, at least 1 MiB and at most 64 MiB, so that
// an operator who raises the limit for busy rooms gets a larger ring too.
// Without a limit (0) sync keeps its default.
func syncRingBytes(limit int64) int {
	if limit <= 0 {
		return 0
	}
	return int(min(max(limit/16, 1<<20), 64<<20))
}

// newLogger builds the process logger from the log settings.
func newLogger(c config.Log, w io.Writer) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.Level)); err != nil {
		return nil, fmt.Errorf("log level: %w", err)
	}
	opts := &slog.HandlerOptions{Level: level}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return slog.New(slog.NewTextHandler(w, opts)), nil
}

// hostOf returns the host of a server name, without port or brackets.
func hostOf(serverName string) string {
	if h, _, err := net.SplitHostPort(serverName); err == nil {
		return h
	}
	return strings.Trim(serverName, "[]")
}

// presenceConfig turns the presence settings into sync's presence
// configuration.
func presenceConfig(cfg config.Config) clientsync.PresenceConfig {
	return clientsync.PresenceConfig{
		Enabled:        cfg.Presence != "off",
		IdleTimeout:    time.Duration(cfg.PresenceIdleSeconds) * time.Second,
		OfflineTimeout: time.Duration(cfg.PresenceOfflineSeconds) * time.Second,
	}
}

// presenceUpdate turns sync's presence into the federation sender's.
func presenceUpdate(p clientsync.Presence) fedsender.PresenceUpdate {
	return fedsender.PresenceUpdate{UserID: p.UserID, Presence: p.State, StatusMsg: p.StatusMsg,
		LastActiveAgo: p.LastActiveAgo, CurrentlyActive: p.CurrentlyActive}
}
