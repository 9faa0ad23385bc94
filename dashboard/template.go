package dashboard

import "html/template"

// pageTemplate is the whole page: inline CSS, inline SVG, no script. It
// refreshes itself with <meta http-equiv="refresh">.
var pageTemplate = template.Must(template.New("dashboard").Funcs(funcs).Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="refresh" content="{{.Refresh}}">
<meta name="robots" content="noindex, nofollow">
<link rel="icon" href="data:,">
<title>{{.Title}} · dashboard</title>
<style>
:root{--fg:#1f2933;--muted:#616e7c;--line:#e4e7eb;--bg:#f5f7fa;--card:#fff;--bad:#c62828;--warn:#b26a00;--ok:#2e7d32}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--fg);font:15px/1.45 -apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif}
header{padding:14px 20px;background:#102a43;color:#fff}
header h1{margin:0;font-size:20px}
header p{margin:2px 0 0;color:#bcccdc;font-size:13px}
main{max-width:1280px;margin:0 auto;padding:16px}
section{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:14px 16px;margin:0 0 16px}
h2{font-size:16px;margin:0 0 10px}
h2 small{font-weight:normal;color:var(--muted)}
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(160px,1fr));gap:12px;background:none;border:0;padding:0}
.tile{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:12px 14px}
.tile .n{font-size:28px;font-weight:600}
.tile .l{color:var(--muted);font-size:13px}
.tile.bad .n{color:var(--bad)}
.rates{display:grid;grid-template-columns:repeat(auto-fit,minmax(220px,1fr));gap:12px}
.rate{display:flex;align-items:center;gap:12px}
.rate svg{width:84px;height:84px;flex:none}
.rate .t{font-weight:600}
.rate .d{color:var(--muted);font-size:13px}
.scroll{overflow-x:auto;-webkit-overflow-scrolling:touch}
table{border-collapse:collapse;width:100%;font-size:14px}
th,td{text-align:left;padding:6px 8px;border-bottom:1px solid var(--line);vertical-align:top}
th{font-size:12px;text-transform:uppercase;letter-spacing:.03em;color:var(--muted);white-space:nowrap}
td.num,th.num{text-align:right;white-space:nowrap}
tr.overdue td{background:#fdecea;color:#8a1c1c}
tr.overdue td.left{font-weight:600;color:var(--bad)}
tr.soon td.left{color:var(--warn);font-weight:600}
tr.idle td{color:var(--muted)}
tr.urgent td.left{color:var(--bad);font-weight:600}
.chart svg{width:100%;height:auto;display:block}
.chart svg.narrow{display:none}
.legend{display:flex;flex-wrap:wrap;gap:6px 16px;margin:8px 0 0;padding:0;list-style:none;font-size:13px}
.legend i{display:inline-block;width:11px;height:11px;border-radius:2px;margin-right:5px;vertical-align:-1px}
.bar{height:10px;background:#e4e7eb;border-radius:5px;overflow:hidden;min-width:80px}
.bar span{display:block;height:100%;background:var(--ok)}
.bar.warn span{background:#ef6c00}.bar.bad span{background:var(--bad)}
.problems{background:#fff4e5;border-color:#f0c36d}
.muted{color:var(--muted)}
.err{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:12px;word-break:break-word}
@media (max-width:600px){main{padding:8px}section{padding:10px}th,td{padding:5px 6px}.hide-s{display:none}.chart svg.wide{display:none}.chart svg.narrow{display:block}td.left{white-space:normal;min-width:70px}th,th.num{white-space:normal}}
</style>
</head>
<body>
<header><h1>{{.Title}}</h1><p>as of {{.Now}}{{with .DataAge}} · {{.}}{{end}} · refreshes every {{.Refresh}} s</p></header>
<main>
{{with .Problems}}<section class="problems" role="alert"><h2>Problems</h2><ul>{{range .}}<li>{{.}}</li>{{end}}</ul></section>{{end}}

<section class="grid" aria-label="summary">
<div class="tile{{if .Overdue}} bad{{end}}" id="tile-pending"><div class="n">{{.Pending}}</div><div class="l">pending · <strong>{{.Overdue}}</strong> past SLA</div></div>
<div class="tile" id="tile-needs-info"><div class="n">{{.NeedsInfo}}</div><div class="l">waiting on partners (needs info)</div></div>
<div class="tile" id="tile-windows"><div class="n">{{.ActiveWindows}}</div><div class="l">active protection windows · {{len .Expiring}} ending in {{.ExpiringDays}} days</div></div>
<div class="tile{{if .Dead}} bad{{end}}" id="tile-dead"><div class="n">{{.Dead}}</div><div class="l">dead letters</div></div>
</section>

<section id="rates"><h2>Program rates</h2>
<div class="rates">
{{template "ring" (ringArgs "Meeting rate" "rate-meeting" .Meeting)}}
{{template "ring" (ringArgs "Win rate" "rate-win" .Win)}}
{{template "ring" (ringArgs "Approval rate" "rate-approval" .Approval)}}
</div>
{{if .Partners}}<div class="scroll"><table id="partners"><thead><tr><th>Partner</th><th class="num hide-s">Registered</th><th class="num hide-s">Approval</th><th>Meeting rate</th><th>Win rate</th></tr></thead><tbody>
{{range .Partners}}<tr><td>{{.Name}}</td><td class="num hide-s">{{.Registered}}</td><td class="num hide-s">{{.Approval}}</td>
<td><div class="bar" title="{{.Meeting}}"><span style="width:{{if .MeetingValid}}{{printf "%.1f" .MeetingPct}}{{else}}0{{end}}%"></span></div> {{.Meeting}}</td>
<td><div class="bar" title="{{.Win}}"><span style="width:{{if .WinValid}}{{printf "%.1f" .WinPct}}{{else}}0{{end}}%"></span></div> {{.Win}}</td></tr>
{{end}}</tbody></table></div>{{end}}
</section>

<section id="queue"><h2>Pending queue <small>oldest first · SLA {{.SLADays}} business days · overdue in red</small></h2>
{{if .Queue}}<div class="scroll"><table><thead><tr><th>Case</th><th>Company</th><th class="hide-s">Partner</th><th>Status</th><th class="hide-s">Reason</th><th class="hide-s">Owner</th><th class="hide-s">Submitted</th><th class="num">Age (bd)</th><th class="hide-s">Answer due</th><th class="num">SLA</th></tr></thead><tbody>
{{range .Queue}}<tr class="{{.Class}}"><td>{{.Case}}</td><td>{{.Company}}</td><td class="hide-s">{{.Partner}}</td><td>{{.Status}}</td><td class="hide-s">{{.Reason}}</td><td class="hide-s">{{.Owner}}</td><td class="hide-s">{{.Submitted}}</td><td class="num">{{.Age}}</td><td class="hide-s">{{.Due}}</td><td class="num left">{{.Left}}</td></tr>
{{end}}</tbody></table></div>{{if .QueueMore}}<p class="muted">… and {{.QueueMore}} more.</p>{{end}}
{{else}}<p class="muted">Nothing is waiting for a decision.</p>{{end}}
</section>

<section id="decisions" class="chart"><h2>Approvals and declines by reason <small>per week</small></h2>
{{template "chart" .Chart}}{{template "chart" .ChartCompact}}
<ul class="legend">{{range .Chart.Legend}}<li><i style="background:{{.Color}}"></i>{{.Name}} <span class="muted">{{.Total}}</span></li>{{end}}</ul>
</section>

<section id="expiring"><h2>Protection windows ending in the next {{.ExpiringDays}} days</h2>
{{if .Expiring}}<div class="scroll"><table><thead><tr><th>Case</th><th>Company</th><th class="hide-s">Partner</th><th class="hide-s">Status</th><th>Window ends</th><th class="num">Left</th><th class="hide-s">Note</th></tr></thead><tbody>
{{range .Expiring}}<tr{{if .Urgent}} class="urgent"{{end}}><td>{{.Case}}</td><td>{{.Company}}</td><td class="hide-s">{{.Partner}}</td><td class="hide-s">{{.Status}}</td><td>{{.Ends}}</td><td class="num left">{{.Left}}</td><td class="hide-s">{{.Meeting}}</td></tr>
{{end}}</tbody></table></div>
{{else}}<p class="muted">No window ends in the next {{.ExpiringDays}} days.</p>{{end}}
</section>

<section id="dead"><h2>Dead letters <small>inbox items the CRM refused for good; fix the cause, then retry them with regsync inbox</small></h2>
{{with .Inbox}}<p class="muted">Inbox: {{.Pending}} pending ({{.Due}} due, {{.Waiting}} backing off, {{.Leased}} in progress) · oldest {{.Oldest}}</p>{{end}}
{{if .DeadLetters}}<div class="scroll"><table><thead><tr><th>Record</th><th class="hide-s">Reasons</th><th class="num">Attempts</th><th class="hide-s">Since</th><th>Last error</th></tr></thead><tbody>
{{range .DeadLetters}}<tr><td>{{.Record}}</td><td class="hide-s">{{.Reasons}}</td><td class="num">{{.Attempts}}</td><td class="hide-s">{{.Since}}</td><td class="err">{{.Error}}</td></tr>
{{end}}</tbody></table></div>{{if .DeadMore}}<p class="muted">… and {{.DeadMore}} more.</p>{{end}}
{{else}}<p class="muted">No dead letters.</p>{{end}}
</section>

<section id="budget"><h2>CRM API budget</h2>
{{if .Budgets}}{{range .Budgets}}<div class="connector">
<h3 style="font-size:15px;margin:6px 0">{{.Connector}}</h3>
{{if .HasLimit}}<div class="bar {{.Class}}" style="max-width:420px" title="{{.PctText}}"><span style="width:{{printf "%.1f" .Pct}}%"></span></div>
<p>{{.Used}} of {{.Limit}} calls today ({{.PctText}})</p>{{else}}<p class="muted">The CRM has not reported a daily allocation.</p>{{end}}
{{with .Paused}}<p style="color:#c62828;font-weight:600">{{.}}</p>{{end}}
<p>{{.TotalCalls}} calls since start · {{.RateLimited}} rate-limited answers</p>
{{if .Calls}}<div class="scroll"><table style="max-width:520px"><thead><tr><th>Operation</th><th class="num">Calls</th></tr></thead><tbody>{{range .Calls}}<tr><td>{{.Key}}</td><td class="num">{{.Value}}</td></tr>{{end}}</tbody></table></div>{{end}}
{{if .Failures}}<div class="scroll"><table style="max-width:520px"><thead><tr><th>Failure</th><th class="num">Count</th></tr></thead><tbody>{{range .Failures}}<tr><td>{{.Key}}</td><td class="num">{{.Value}}</td></tr>{{end}}</tbody></table></div>{{end}}
</div>{{end}}
{{else}}<p class="muted">No connector reported its usage.</p>{{end}}
</section>
</main>
</body>
</html>
{{define "chart"}}<svg class="{{.Class}}" viewBox="0 0 {{printf "%.0f" .W}} {{printf "%.0f" .H}}" role="img" aria-label="{{.Summary}}" xmlns="http://www.w3.org/2000/svg">
<title>{{.Summary}}</title>
{{range .Ticks}}<line x1="{{printf "%.1f" $.PlotX}}" x2="{{printf "%.1f" $.W}}" y1="{{printf "%.1f" .Y}}" y2="{{printf "%.1f" .Y}}" stroke="#e4e7eb"/>
<text x="{{printf "%.1f" (sub $.PlotX 6)}}" y="{{printf "%.1f" (add .Y 4)}}" text-anchor="end" font-size="{{$.FontSize}}" fill="#616e7c">{{.Label}}</text>
{{end}}{{range .Segments}}<rect x="{{printf "%.1f" .X}}" y="{{printf "%.1f" .Y}}" width="{{printf "%.1f" .W}}" height="{{printf "%.1f" .H}}" fill="{{.Color}}"><title>{{.Title}}</title></rect>
{{end}}{{range .XLabels}}<text x="{{printf "%.1f" .X}}" y="{{printf "%.1f" (add $.BaseY 18)}}" text-anchor="middle" font-size="{{$.FontSize}}" fill="#616e7c">{{.Label}}</text>
{{end}}{{if .Empty}}<text x="{{printf "%.1f" (half .W)}}" y="{{printf "%.1f" (half .H)}}" text-anchor="middle" font-size="14" fill="#9aa5b1">no decisions in these weeks</text>{{end}}
</svg>{{end}}
{{define "ring"}}<div class="rate" id="{{.ID}}"><svg viewBox="0 0 84 84" role="img" aria-label="{{.Name}} {{.R.Text}}" xmlns="http://www.w3.org/2000/svg">
<circle cx="42" cy="42" r="36" fill="none" stroke="#e4e7eb" stroke-width="8"/>
<circle cx="42" cy="42" r="36" fill="none" stroke="{{.R.Color}}" stroke-width="8" stroke-dasharray="{{.R.Dash}}" transform="rotate(-90 42 42)"/>
<text x="42" y="47" text-anchor="middle" font-size="16" font-weight="600" fill="#1f2933">{{.R.Text}}</text></svg>
<div><div class="t">{{.Name}}</div><div class="d">{{.R.Detail}}</div></div></div>{{end}}
`))

type ringArgsT struct {
	Name, ID string
	R        ring
}

var funcs = template.FuncMap{
	"ringArgs": func(name, id string, r ring) ringArgsT { return ringArgsT{name, id, r} },
	"add":      func(a, b float64) float64 { return a + b },
	"sub":      func(a, b float64) float64 { return a - b },
	"half":     func(a float64) float64 { return a / 2 },
}
