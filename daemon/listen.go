package daemon

import (
	"fmt"
	"net"
	"os"
	"path/filepath"

	"github.com/regsync/regsync/config"
	"github.com/regsync/regsync/server"
)

// listeners are the public listener and the admin API's own (nil when
// admin.public allows admin.addr to be server.addr: the public one
// serves both).
type listeners struct{ public, admin net.Listener }

// listen binds server.addr and admin.addr and writes the addresses they
// got beside the state file (the configured ones may say :0), for the
// commands beside the daemon.
func listen(cfg *config.Config) (listeners, error) {
	var lns listeners
	var err error
	if lns.public, err = net.Listen("tcp", cfg.Server.Addr); err != nil {
		return lns, fmt.Errorf("listen on server.addr %s: %w", cfg.Server.Addr, err)
	}
	if err := writePrivate(AddrFile(cfg.State.Path), []byte(lns.addr().String()+"\n")); err != nil {
		lns.close()
		return listeners{}, fmt.Errorf("write the daemon's address to %s: %w", AddrFile(cfg.State.Path), err)
	}
	// The admin API has a listener of its own (loopback unless
	// admin.public), or shares the public one.
	if !cfg.AdminShared() {
		if lns.admin, err = net.Listen("tcp", cfg.Admin.Addr); err != nil {
			lns.close()
			return listeners{}, fmt.Errorf("listen on admin.addr %s: %w", cfg.Admin.Addr, err)
		}
	}
	if err := writePrivate(AdminAddrFile(cfg.State.Path), []byte(lns.adminAddr().String()+"\n")); err != nil {
		lns.close()
		return listeners{}, fmt.Errorf("write the admin API's address to %s: %w", AdminAddrFile(cfg.State.Path), err)
	}
	return lns, nil
}

func (l listeners) addr() net.Addr { return l.public.Addr() }

func (l listeners) adminAddr() net.Addr {
	if l.admin == nil {
		return l.public.Addr()
	}
	return l.admin.Addr()
}

// hand gives the listeners to the server, which closes them from then on.
func (l *listeners) hand(s *server.Server) {
	s.SetListener(l.public)
	if l.admin != nil {
		s.SetAdminListener(l.admin)
	}
	*l = listeners{}
}

func (l listeners) close() {
	if l.public != nil {
		_ = l.public.Close()
	}
	if l.admin != nil {
		_ = l.admin.Close()
	}
}

// writePrivate replaces the file at path with data, readable by its owner
// only (0600) whatever the mode of a file that was there (os.WriteFile
// keeps an existing file's mode) and without following a symlink there:
// the data goes to a new file in the same directory, renamed over path.
func writePrivate(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	err = f.Chmod(0o600) // CreateTemp makes 0600 already; say so
	if err == nil {
		_, err = f.Write(data)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		_ = os.Remove(tmp)
	}
	return err
}

// loopbackAddr reports whether a listener's address is on loopback.
func loopbackAddr(a net.Addr) bool {
	ta, ok := a.(*net.TCPAddr)
	return ok && ta.IP.IsLoopback()
}

// AdminTokenFile is where serve writes a generated admin token.
func AdminTokenFile(statePath string) string { return statePath + ".admin-token" }

// AddrFile is where serve writes the address its public listener got.
func AddrFile(statePath string) string { return statePath + ".addr" }

// AdminAddrFile is where serve writes the address its admin API listens
// on, for the commands beside it (admin.addr may say :0).
func AdminAddrFile(statePath string) string { return statePath + ".admin-addr" }
