package clientapi

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/hafenchat/hafen/internal/core/id"
)

// memStore is an in-memory AccountStore for handler tests.
//
// TODO(#store): run the handler tests on a real SQLite store in t.TempDir()
// once store.DB implements AccountStore; keep memStore only for fault
// injection.
type memStore struct {
	mu       sync.Mutex
	users    map[id.UserID]*memUser
	devices  map[id.UserID]map[id.DeviceID]*Device
	tokens   map[string]memToken
	regToken map[string]int // uses left
	uia      map[string]UIASession
}

type memUser struct {
	hash        string
	admin       bool
	deactivated bool
}

type memToken struct {
	user   id.UserID
	device id.DeviceID
}

func newMemStore() *memStore {
	return &memStore{
		users:    map[id.UserID]*memUser{},
		devices:  map[id.UserID]map[id.DeviceID]*Device{},
		tokens:   map[string]memToken{},
		regToken: map[string]int{},
		uia:      map[string]UIASession{},
	}
}

func (m *memStore) CreateUser(_ context.Context, u id.UserID, hash string, admin bool) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.users[u]; ok {
		return ErrUserExists
	}
	m.users[u] = &memUser{hash: hash, admin: admin}
	return nil
}

func (m *memStore) UserPassword(_ context.Context, u id.UserID) (string, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	usr, ok := m.users[u]
	if !ok {
		return "", false, ErrNotFound
	}
	return usr.hash, usr.deactivated, nil
}

func (m *memStore) UserExists(_ context.Context, u id.UserID) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	_, ok := m.users[u]
	return ok, nil
}

func (m *memStore) SetPasswordHash(_ context.Context, u id.UserID, hash string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	usr, ok := m.users[u]
	if !ok {
		return ErrNotFound
	}
	usr.hash = hash
	return nil
}

func (m *memStore) DeactivateUser(ctx context.Context, u id.UserID) error {
	m.mu.Lock()
	if usr, ok := m.users[u]; ok {
		usr.deactivated = true
	}
	m.mu.Unlock()
	return m.DeleteDevicesExcept(ctx, u, "")
}

func (m *memStore) CreateDevice(_ context.Context, u id.UserID, d id.DeviceID, name string) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.devices[u] == nil {
		m.devices[u] = map[id.DeviceID]*Device{}
	}
	if _, ok := m.devices[u][d]; ok {
		return false, nil
	}
	m.devices[u][d] = &Device{ID: d, DisplayName: name}
	return true, nil
}

func (m *memStore) Device(_ context.Context, u id.UserID, d id.DeviceID) (Device, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	dev, ok := m.devices[u][d]
	if !ok {
		return Device{}, ErrNotFound
	}
	return *dev, nil
}

func (m *memStore) Devices(_ context.Context, u id.UserID) ([]Device, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Device
	for _, d := range m.devices[u] {
		out = append(out, *d)
	}
	slices.SortFunc(out, func(a, b Device) int { return compare(string(a.ID), string(b.ID)) })
	return out, nil
}

func compare(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func (m *memStore) SetDeviceDisplayName(_ context.Context, u id.UserID, d id.DeviceID, name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	dev, ok := m.devices[u][d]
	if !ok {
		return ErrNotFound
	}
	dev.DisplayName = name
	return nil
}

func (m *memStore) deleteLocked(u id.UserID, keep func(id.DeviceID) bool) {
	for d := range m.devices[u] {
		if !keep(d) {
			delete(m.devices[u], d)
		}
	}
	for h, t := range m.tokens {
		if t.user == u && !keep(t.device) {
			delete(m.tokens, h)
		}
	}
}

func (m *memStore) DeleteDevices(_ context.Context, u id.UserID, ds []id.DeviceID) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.deleteLocked(u, func(d id.DeviceID) bool { return !slices.Contains(ds, d) })
	return nil
}

func (m *memStore) DeleteDevicesExcept(_ context.Context, u id.UserID, keep id.DeviceID) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.deleteLocked(u, func(d id.DeviceID) bool { return keep != "" && d == keep })
	return nil
}

func (m *memStore) CreateAccessToken(_ context.Context, hash string, u id.UserID, d id.DeviceID) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for h, t := range m.tokens {
		if t.user == u && t.device == d {
			delete(m.tokens, h)
		}
	}
	m.tokens[hash] = memToken{user: u, device: d}
	return nil
}

func (m *memStore) AccessTokenOwner(_ context.Context, hash string) (id.UserID, id.DeviceID, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	t, ok := m.tokens[hash]
	if !ok {
		return "", "", ErrNotFound
	}
	return t.user, t.device, nil
}

func (m *memStore) RegistrationTokenValid(_ context.Context, tok string, _ time.Time) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.regToken[tok] > 0, nil
}

func (m *memStore) UseRegistrationToken(_ context.Context, tok string, _ time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.regToken[tok] <= 0 {
		return ErrNotFound
	}
	m.regToken[tok]--
	return nil
}

func (m *memStore) CreateUIASession(_ context.Context, sess UIASession, expireBefore time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for k, old := range m.uia {
		if old.Created.Before(expireBefore) {
			delete(m.uia, k)
		}
	}
	if _, ok := m.uia[sess.ID]; ok {
		return ErrUserExists
	}
	sess.Completed = slices.Clone(sess.Completed)
	m.uia[sess.ID] = sess
	return nil
}

func (m *memStore) UIASession(_ context.Context, sessionID string) (UIASession, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	sess, ok := m.uia[sessionID]
	if !ok {
		return UIASession{}, ErrNotFound
	}
	sess.Completed = slices.Clone(sess.Completed)
	return sess, nil
}

func (m *memStore) UpdateUIASession(_ context.Context, sess UIASession) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	old, ok := m.uia[sess.ID]
	if !ok {
		return ErrNotFound
	}
	old.Completed = slices.Clone(sess.Completed)
	old.RegToken = sess.RegToken
	m.uia[sess.ID] = old
	return nil
}

func (m *memStore) DeleteUIASession(_ context.Context, sessionID string) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	_, ok := m.uia[sessionID]
	delete(m.uia, sessionID)
	return ok, nil
}
