// Package webui is what the partner-facing pages (the web form and the
// status page) share: one accessible, mobile-friendly layout with inline
// CSS and no script, and the security headers every page carries.
package webui

import (
	"html/template"
	"net/http"
)

// CSS is the pages' whole style sheet: system fonts, a readable measure,
// large touch targets, visible focus, high contrast, dark mode.
const CSS = `
*,*::before,*::after{box-sizing:border-box}
html{-webkit-text-size-adjust:100%}
body{margin:0;font:1rem/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;color:#1b1b1b;background:#f5f6f8}
main{max-width:36rem;margin:0 auto;padding:1.25rem 1rem 3rem}
h1{font-size:1.5rem;line-height:1.25;margin:.5rem 0 1rem}
h2{font-size:1.15rem;margin:1.75rem 0 .5rem}
p{margin:.5rem 0}
a{color:#0b57d0}
.card{background:#fff;border:1px solid #d6d9de;border-radius:.5rem;padding:1rem 1.1rem;margin:1rem 0}
fieldset{border:0;margin:0 0 1rem;padding:0}
legend{font-weight:600;margin-bottom:.5rem;padding:0}
.field{margin:0 0 1rem}
label{display:block;font-weight:600;margin-bottom:.25rem}
.hint{display:block;color:#4a4f57;font-size:.9rem;margin:-.15rem 0 .3rem}
input[type=text],input[type=email],input[type=url],textarea{display:block;width:100%;font:inherit;padding:.6rem .65rem;border:2px solid #6b717a;border-radius:.35rem;background:#fff;color:inherit}
textarea{min-height:5rem;resize:vertical}
input[aria-invalid=true],textarea[aria-invalid=true]{border-color:#b3261e}
.check{display:flex;gap:.6rem;align-items:flex-start}
.check input{width:1.4rem;height:1.4rem;margin:.1rem 0 0;flex:none}
.check label{font-weight:400;margin:0}
.error{display:block;color:#b3261e;font-weight:600;margin:.15rem 0 .3rem}
.summary{border:3px solid #b3261e;border-radius:.5rem;padding:.75rem 1rem;background:#fff;margin:0 0 1.25rem}
.summary h2{margin-top:0;color:#b3261e}
.notice{border-left:.35rem solid #137333;background:#fff;padding:.75rem 1rem;margin:1rem 0}
button{font:inherit;font-weight:600;padding:.7rem 1.3rem;border-radius:.35rem;border:2px solid #0b57d0;background:#0b57d0;color:#fff;cursor:pointer;min-height:2.75rem}
button.secondary{background:#fff;color:#0b57d0}
:focus-visible{outline:3px solid #f9ab00;outline-offset:2px}
.badge{display:inline-block;font-size:.85rem;font-weight:700;letter-spacing:.02em;text-transform:uppercase;padding:.15rem .6rem;border-radius:1rem;background:#e8eaed;color:#1b1b1b;vertical-align:middle}
.badge-pending{background:#fef7e0;color:#7a4f01}
.badge-approved,.badge-meeting-booked,.badge-converted,.badge-won{background:#e6f4ea;color:#0d5223}
.badge-declined,.badge-expired,.badge-lost,.badge-withdrawn{background:#fce8e6;color:#8c1d18}
.badge-needs-info{background:#e8f0fe;color:#0b3d91}
dl{display:grid;grid-template-columns:max-content 1fr;gap:.25rem 1rem;margin:.5rem 0}
dt{font-weight:600}
dd{margin:0;overflow-wrap:anywhere}
.case{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:1.1rem;font-weight:700}
.hp{position:absolute;left:-10000px;width:1px;height:1px;overflow:hidden}
footer{color:#4a4f57;font-size:.85rem;margin-top:2rem}
@media (prefers-color-scheme:dark){
body{background:#15171a;color:#e8eaed}.card,.summary,.notice{background:#1f2227;border-color:#3c4043}
input[type=text],input[type=email],input[type=url],textarea{background:#15171a;border-color:#9aa0a6}
.hint,footer{color:#bdc1c6}a{color:#8ab4f8}.badge{background:#3c4043;color:#e8eaed}
button{background:#8ab4f8;border-color:#8ab4f8;color:#15171a}button.secondary{background:transparent;color:#8ab4f8}}
`

// Layout wraps a page's "body" template. Pages define "title" and "body".
const Layout = `{{define "layout"}}<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex, nofollow">
<title>{{template "title" .}}</title>
<style>{{css}}</style>
{{block "head" .}}{{end}}
</head>
<body>
<main id="main">
{{template "body" .}}
</main>
</body>
</html>{{end}}`

// Funcs are the template functions the layout needs.
func Funcs() template.FuncMap {
	return template.FuncMap{"css": func() template.CSS { return template.CSS(CSS) }}
}

// Parse parses a page (its "title" and "body" definitions) with the layout.
func Parse(name, page string) *template.Template {
	t := template.Must(template.New(name).Funcs(Funcs()).Parse(Layout))
	return template.Must(t.Parse(page))
}

// SecureHeaders sets the headers every partner page carries: no caching
// (pages hold personal data), no framing, no sniffing, the referrer kept
// on this site only (status links carry their token in the path), and a
// content security policy that allows this page's inline style, forms to
// this site only, and — when given — the captcha provider's script and
// frames.
func SecureHeaders(w http.ResponseWriter, captchaOrigins ...string) {
	h := w.Header()
	extra := ""
	for _, o := range captchaOrigins {
		extra += " " + o
	}
	csp := "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
	if extra != "" {
		csp += "; script-src" + extra + "; frame-src" + extra + "; connect-src" + extra
	}
	h.Set("Content-Security-Policy", csp)
	h.Set("Cache-Control", "no-store")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Content-Type", "text/html; charset=utf-8")
}

// SameOrigin reports whether a POST comes from a page of this site: its
// Origin header is the origin of publicURL or of the request's own host,
// or — when a browser sends no Origin — Sec-Fetch-Site says same-origin.
// A request with neither header does not come from a browser, which is the
// only client a cross-site request forgery can use, and passes.
func SameOrigin(r *http.Request, publicURL string) bool {
	origin := r.Header.Get("Origin")
	if origin != "" {
		if origin == "null" {
			return false
		}
		if o := originOf(publicURL); o != "" && origin == o {
			return true
		}
		scheme := "http"
		if r.TLS != nil {
			scheme = "https"
		}
		return origin == scheme+"://"+r.Host
	}
	switch r.Header.Get("Sec-Fetch-Site") {
	case "", "same-origin", "none":
		return true
	}
	return false
}

func originOf(u string) string {
	// scheme://host[:port] of an absolute URL.
	for i := 0; i+2 < len(u); i++ {
		if u[i] == ':' && u[i+1] == '/' && u[i+2] == '/' {
			rest := u[i+3:]
			for j := 0; j < len(rest); j++ {
				if rest[j] == '/' || rest[j] == '?' || rest[j] == '#' {
					return u[:i+3+j]
				}
			}
			return u
		}
	}
	return ""
}
