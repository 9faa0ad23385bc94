package server

import "net/http"

// Handler is the public listener's mux (tests serve it with httptest).
func (s *Server) Handler() http.Handler { return s.mux }

// AdminHandler is the admin listener's mux: the /-/ endpoints (the public
// mux itself with AdminOnPublic).
func (s *Server) AdminHandler() http.Handler { return s.adminMux }
