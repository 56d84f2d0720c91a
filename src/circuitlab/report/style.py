"""The page's CSS: system fonts, a readable measure, light and dark schemes, no web fonts."""

PAGE_CSS = """
:root{--bg:#fbfaf7;--card:#ffffff;--fg:#1c1917;--muted:#6b6560;--line:#e7e2da;--accent:#2563eb;
  --pass:#15803d;--pass-bg:#dcfce7;--fail:#b91c1c;--fail-bg:#fee2e2;--quote:#f4f0e8;
  --sans:system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;
  --serif:"Iowan Old Style","Palatino Linotype",Palatino,Georgia,"Times New Roman",serif;
  --mono:ui-monospace,SFMono-Regular,Menlo,Consolas,"DejaVu Sans Mono",monospace}
@media (prefers-color-scheme:dark){:root{--bg:#141312;--card:#1d1b1a;--fg:#ece8e1;--muted:#a39d95;
  --line:#34302c;--accent:#60a5fa;--pass:#4ade80;--pass-bg:#14532d;--fail:#f87171;--fail-bg:#4c1d1d;
  --quote:#24211e}}
*{box-sizing:border-box}
html{background:var(--bg);color:var(--fg);font-family:var(--sans);font-size:17px;line-height:1.55;
  -webkit-text-size-adjust:100%}
body{margin:0}
.page{max-width:1080px;margin:0 auto;padding:2.5rem 1.5rem 4rem}
a{color:var(--accent);text-decoration:none}a:hover{text-decoration:underline}
code,.mono{font-family:var(--mono);font-size:.86em}
.muted{color:var(--muted)}
.hero{display:grid;grid-template-columns:1fr auto;gap:.4rem 2rem;align-items:end;
  padding-bottom:1.6rem;border-bottom:1px solid var(--line)}
.hero>*{grid-column:1}
.eyebrow,.kicker{font-size:.75rem;font-weight:650;letter-spacing:.09em;text-transform:uppercase;
  color:var(--muted);margin:0}
h1{font-family:var(--serif);font-weight:600;font-size:2.5rem;line-height:1.1;margin:.3rem 0 .2rem;
  letter-spacing:-.01em}
.lede{font-size:1.08rem;color:var(--muted);max-width:40rem;margin:.2rem 0 .8rem}
.score{grid-column:2;grid-row:1/4;text-align:center;border-radius:18px;padding:1rem 1.6rem;
  border:1px solid var(--line);background:var(--card)}
.score .big{display:block;font-family:var(--serif);font-size:3.2rem;font-weight:600;line-height:1}
.score small{font-size:1.4rem;color:var(--muted)}
.score span:last-child{font-size:.8rem;text-transform:uppercase;letter-spacing:.08em;color:var(--muted)}
.score.pass .big{color:var(--pass)}.score.fail .big{color:var(--fail)}
.facts{display:flex;flex-wrap:wrap;gap:.4rem 1.8rem;margin:.4rem 0 0;font-size:.88rem}
.facts div{display:flex;gap:.45rem}.facts dt{color:var(--muted)}.facts dd{margin:0;font-weight:550}
table{border-collapse:collapse;width:100%}
th,td{text-align:left;vertical-align:top;padding:.45rem .6rem;border-bottom:1px solid var(--line)}
th{font-weight:600}
.summary{margin:2rem 0 1rem;background:var(--card);border:1px solid var(--line);border-radius:14px;
  overflow-x:auto}
.summary table{font-size:.92rem}.summary td{vertical-align:baseline}.summary thead th{font-size:.72rem;text-transform:uppercase;
  letter-spacing:.07em;color:var(--muted);font-weight:650;border-bottom:1px solid var(--line)}
.summary tr:last-child td{border-bottom:0}
.summary tbody tr:hover{background:var(--quote)}
.id{font-family:var(--mono);font-size:.75rem;color:var(--muted);letter-spacing:0;text-transform:none}
.num{font-variant-numeric:tabular-nums;white-space:nowrap;color:var(--muted)}
.verdict{display:inline-block;font-family:var(--sans);font-size:.72rem;font-weight:700;
  text-transform:uppercase;letter-spacing:.08em;padding:.18rem .55rem;border-radius:999px;
  vertical-align:middle}
.verdict.pass{color:var(--pass);background:var(--pass-bg)}
.verdict.fail{color:var(--fail);background:var(--fail-bg)}
.claim{margin:2.2rem 0;padding:1.8rem 2rem;background:var(--card);border:1px solid var(--line);
  border-radius:18px;border-left:5px solid var(--pass)}
.claim.fail{border-left-color:var(--fail)}
.claim h2{font-family:var(--serif);font-weight:600;font-size:1.65rem;line-height:1.2;margin:.25rem 0 1rem}
.claim h2 .verdict{margin-left:.5rem;position:relative;top:-.15rem}
h3{font-size:.78rem;text-transform:uppercase;letter-spacing:.08em;color:var(--muted);margin:1rem 0 .3rem}
.seed{margin:0 0 1.2rem;padding:1rem 1.3rem;background:var(--quote);border-radius:12px;
  font-family:var(--serif);font-size:1.1rem;line-height:1.5;position:relative}
.seed p{margin:0}.seed p::before{content:"\\201C"}.seed p::after{content:"\\201D"}
.seed cite{display:block;margin-top:.4rem;font-family:var(--sans);font-style:normal;font-size:.75rem;
  color:var(--muted);text-transform:uppercase;letter-spacing:.07em}
.restated{font-size:.95rem}
.facts-grid{display:grid;grid-template-columns:minmax(0,1.1fr) minmax(0,1fr);gap:0 2rem}
@media (max-width:760px){.facts-grid{grid-template-columns:1fr}.hero{grid-template-columns:1fr}
  .score{grid-column:1;grid-row:auto}.claim{padding:1.2rem}}
.facts-grid p{margin:0 0 .3rem}
.kv th{font-weight:500;color:var(--muted);font-family:var(--mono);font-size:.82rem;width:45%}
.kv td{font-variant-numeric:tabular-nums;word-break:break-word}
.table-wrap{overflow-x:auto;margin:1.2rem 0}
table.data{font-size:.88rem;font-variant-numeric:tabular-nums}
table.data caption{text-align:left;font-weight:600;padding:.3rem 0 .5rem;font-size:.92rem}
table.data thead th{background:var(--quote);font-size:.8rem}
.figures{display:grid;grid-template-columns:repeat(auto-fit,minmax(340px,1fr));gap:1.2rem;margin:1.4rem 0;
  align-items:start}
.figures figure:only-child{max-width:760px}.figures figure.wide{grid-column:1/-1;max-width:none}
figure{margin:0;background:#fff;border:1px solid var(--line);border-radius:12px;padding:.7rem}
figure img{display:block;width:100%;height:auto}
figcaption{font-size:.84rem;color:#57534e;margin-top:.45rem;line-height:1.4}
figure.missing{background:var(--quote);color:var(--muted);font-size:.9rem}
figure.missing figcaption{color:var(--muted)}
.notes{font-size:.93rem;border-left:3px solid var(--line);padding-left:.9rem;color:var(--muted)}
.error{margin:1rem 0;padding:.8rem 1rem;border-radius:10px;background:var(--fail-bg);color:var(--fg);
  font-size:.92rem}
.error pre{white-space:pre-wrap;font-size:.78rem;max-height:18rem;overflow:auto}
.meta{font-size:.78rem;color:var(--muted);margin:1.2rem 0 0}
footer{margin-top:3rem;padding-top:1.2rem;border-top:1px solid var(--line);font-size:.88rem}
footer h2{font-family:var(--serif);font-weight:600;font-size:1.3rem}
"""
