import SimCore
import Recording
import Analysis
import Scenario

/// One run as a self-contained HTML page: inline CSS, one inline SVG timeline with a shared time
/// axis, and a few lines of plain inline JavaScript for zooming (drag across the plot; double-
/// click or "reset" to zoom out). Hovering any shape shows its details (SVG `<title>`). No
/// network, no external script: the file can be attached to a ticket.
///
/// Lanes, top to bottom: faults; the RTO of each disruptive fault split into its phases; the
/// leader key (holder, lease renewals, expiry); per host, each process (PostgreSQL state, role
/// and timeline; Patroni's decisions; the etcd member's role and term; the watchdog); every
/// load balancer's servers per backend; the clients (acknowledged writes per second, failures
/// by cause, indeterminate and lost writes, latency). Fault bands and split-brain windows are
/// shaded across all lanes.
public enum HTMLReport {
    /// SVG geometry: the label column, the plot, lane heights.
    static let labelW = 190.0, plotW = 1010.0, laneH = 18.0, gap = 4.0

    public static func render(_ story: RunStory, scenario: Scenario?) -> String {
        var svg = SVG(duration: max(story.durationNs, 1))
        Layout.draw(story, scenario: scenario, into: &svg)
        var h = ""
        h += "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
        h += "<title>\(esc(story.scenario)) — seed \(story.seed)\(story.runID.map { " — run \($0)" } ?? "")</title>\n"
        h += "<style>\(css)</style>\n</head>\n<body data-status=\"loading\">\n"
        h += header(story, scenario: scenario)
        h += "<div class=\"toolbar\">Drag across the timeline to zoom in; double-click or <button id=\"reset\">reset</button> to see the whole run "
        h += "(<code>#t=120-180</code> after the file name opens a window in seconds). Hover any shape for its details. <span id=\"window\"></span></div>\n"
        h += svg.document()
        h += legend
        if story.timeline.contains(where: { $0.kind == Kind.noiseStart }) { h += noiseLegend }
        h += findings(story)
        h += "<script>\(script)</script>\n</body></html>\n"
        return h
    }

    static func esc(_ s: String) -> String {
        var o = ""
        for c in s {
            switch c {
            case "&": o += "&amp;"
            case "<": o += "&lt;"
            case ">": o += "&gt;"
            case "\"": o += "&quot;"
            default: o.append(c)
            }
        }
        return o
    }

    static func sec(_ ns: Nanos) -> String { DurationText.seconds3(ns) + " s" }

    static func header(_ s: RunStory, scenario: Scenario?) -> String {
        var h = "<header><h1>\(esc(s.scenario))</h1>\n<p class=\"meta\">seed \(s.seed)"
        if let id = s.runID { h += " · run \(id)" }
        h += " · \(DurationText.format(s.durationNs)) simulated · \(s.events) events · trace \(esc(s.traceHash))"
        if !s.overrides.isEmpty { h += " · " + esc(s.overrides.map { "--set \($0.0)=\($0.1)" }.joined(separator: " ")) }
        h += "</p>\n"
        if let sc = scenario {
            if !sc.description.isEmpty { h += "<p class=\"desc\">\(esc(sc.description))</p>\n" }
            for w in sc.warnings { h += "<p class=\"warn\">\(w.path.hasPrefix("patroni") ? "Patroni adjusted" : "warning:") \(esc(w.path)): \(esc(w.message))</p>\n" }
        }
        // The headline a DBA looks for: when writes stopped, why, when they came back.
        let f = s.findings
        h += "<div class=\"cards\">"
        for r in f.rto where r.sameOutageAs == nil {
            let fault = s.faults.first { $0.index == r.faultIndex }
            let title = "fault \(r.faultIndex) \(fault?.kind ?? r.kind) \(fault?.resolved ?? "")"
            var body: String
            if !r.outage { body = "writes never stopped" } else if let v = r.rtoNs {
                body = "<b>RTO \(sec(v))</b>: " + r.phases.compactMap { p in p.durationNs.map { "\(p.name) \(DurationText.seconds3($0)) s" } }.joined(separator: " + ")
            } else { body = "<b class=\"bad\">writes had not recovered by the end</b>" }
            h += "<div class=\"card\"><div class=\"ct\">\(esc(title))</div>\(body)</div>"
        }
        if let r = f.rpo {
            h += "<div class=\"card\"><div class=\"ct\">RPO</div><b class=\"\(r.lostWrites > 0 ? "bad" : "good")\">\(r.lostWrites) acknowledged write(s) lost</b>"
            h += " (\(r.lostBytes) bytes)</div>"
        }
        if let sb = f.splitBrain {
            h += "<div class=\"card\"><div class=\"ct\">split brain</div>"
            h += sb.any ? "<b class=\"bad\">\(sec(sb.totalNs))</b>, \(sb.losingAcks) acknowledged on the losing side" : "<b class=\"good\">none</b>"
            h += "</div>"
        }
        if !f.expectations.isEmpty {
            let failed = f.expectations.filter { !$0.ok }.count
            h += "<div class=\"card\"><div class=\"ct\">expectations</div><b class=\"\(failed > 0 ? "bad" : "good")\">\(failed == 0 ? "all hold" : "\(failed) failed")</b></div>"
        }
        h += "</div>\n</header>\n"
        return h
    }

    static func findings(_ s: RunStory) -> String {
        let f = s.findings
        var h = "<section class=\"findings\"><h2>Findings</h2>\n"
        for r in f.rto {
            let fault = s.faults.first { $0.index == r.faultIndex }
            h += "<h3>fault \(r.faultIndex) \(esc(fault?.kind ?? r.kind)) \(esc(fault?.resolved ?? "")) at \(TextClock.clock(r.atNs))</h3>\n"
            if let first = r.sameOutageAs { h += "<p>started with fault \(first): one outage</p>\n"; continue }
            if !r.outage { h += "<p>writes never stopped (RTO 0 s)</p>\n"; continue }
            h += "<table><tr><th>phase</th><th>ended</th><th>took</th><th>what</th><th>why</th></tr>\n"
            for p in r.phases {
                h += "<tr><td><span class=\"sw ph-\(p.name)\"></span>\(p.name)</td><td>\(p.atNs.map(TextClock.clock) ?? "—")</td>"
                h += "<td>\(p.durationNs.map(sec) ?? "—")</td><td>\(esc(p.detail))</td><td>\(esc(p.cause))</td></tr>\n"
            }
            h += "</table>\n"
        }
        if let r = f.rpo {
            h += "<p>RPO: \(r.lostWrites) acknowledged write(s) lost (\(r.lostBytes) bytes, window \(sec(r.windowNs))); final primary \(esc(r.finalPrimary ?? "none"))</p>\n"
            for c in r.causes { h += "<p class=\"cause\">\(esc(c))</p>\n" }
        }
        if let w = f.writes {
            h += "<p>Writes: \(w.total) sent, \(w.ok) acknowledged (\(w.blocked) blocked over 1 s), \(w.failed) failed, \(w.indeterminate) indeterminate</p>\n"
        }
        for n in f.notes { h += "<p class=\"warn\">Note: \(esc(n))</p>\n" }
        if !f.expectations.isEmpty {
            h += "<ul class=\"exp\">"
            for e in f.expectations { h += "<li class=\"\(e.ok ? "good" : "bad")\">\(e.ok ? "✔" : "✘") \(esc(e.name)): \(esc(e.detail))</li>" }
            h += "</ul>\n"
        }
        if let a = s.aborted { h += "<p class=\"bad\">Run aborted: \(esc(a))</p>\n" }
        h += "</section>\n"
        return h
    }

    static let legend = """
        <div class="legend">
        <span><i class="sw ph-detection"></i>detection</span><span><i class="sw ph-election"></i>election</span>
        <span><i class="sw ph-promotion"></i>promotion</span><span><i class="sw ph-traffic"></i>traffic</span>
        <span><i class="sw ph-clients"></i>clients</span><span><i class="sw st-primary"></i>primary (writable)</span>
        <span><i class="sw st-standby"></i>standby</span><span><i class="sw st-down"></i>stopped / down</span>
        <span><i class="sw st-transition"></i>starting, stopping, promoting, rewinding</span><span><i class="sw st-up"></i>server UP</span>
        <span><i class="sw st-etcdleader"></i>etcd leader</span><span><i class="sw fault"></i>fault</span><span><i class="sw splitbrain"></i>split brain</span>
        <span><i class="sw w-ok"></i>acknowledged writes/s</span><span><i class="sw w-fail"></i>failed</span><span><i class="sw w-ind"></i>indeterminate</span>
        <span><i class="sw w-lost"></i>lost (acknowledged, then gone)</span>
        </div>

        """

    /// The noise lane's colours (`Layout.noiseColors`), shown when the run had noise.
    static var noiseLegend: String {
        let kinds = ["disk_stall", "slow_fsync", "latency_spike", "jitter_burst", "loss_burst", "pause", "slow_queries"]
        let items = kinds.map { "<span><i class=\"sw\" style=\"background:\(Layout.noiseColors[$0]!)\"></i>\($0)</span>" }.joined()
        return "<div class=\"legend noise-legend\"><span>noise:</span>\(items)<span><i class=\"sw\" style=\"background:#2c3e5030;border:1px solid #000\"></i>an episode's event</span></div>\n"
    }

    static let css = """
        body{font:13px/1.4 -apple-system,"Segoe UI",Helvetica,Arial,sans-serif;margin:16px;color:#222;background:#fff}
        h1{font-size:20px;margin:0 0 4px} h2{font-size:16px} h3{font-size:14px;margin:12px 0 4px}
        .meta{color:#666;margin:0} .desc{max-width:1100px} .warn{color:#8a5a00} .bad{color:#b00020} .good{color:#1b7a1b}
        .cards{display:flex;flex-wrap:wrap;gap:8px;margin:8px 0}
        .card{border:1px solid #ddd;border-radius:6px;padding:6px 10px;background:#fafafa}
        .ct{font-size:11px;color:#666;text-transform:uppercase;letter-spacing:.04em}
        .toolbar{color:#555;margin:6px 0} svg{width:100%;height:auto;border:1px solid #e5e5e5;user-select:none}
        svg text{font-size:10.5px;fill:#333} svg .lab{font-size:11px} svg .host{font-weight:600;font-size:11.5px}
        table{border-collapse:collapse} td,th{border:1px solid #ddd;padding:3px 6px;text-align:left;vertical-align:top}
        .legend{display:flex;flex-wrap:wrap;gap:12px;margin:6px 0;color:#444}
        .sw{display:inline-block;width:12px;height:10px;margin-right:4px;vertical-align:middle;border:1px solid #0002}
        .ph-detection{background:#e4572e}.ph-election{background:#f3a712}.ph-promotion{background:#e8d33f}.ph-traffic{background:#29335c}.ph-clients{background:#a06cd5}
        .st-primary{background:#2e9e44}.st-standby{background:#7fb3d5}.st-down{background:#999}.st-transition{background:#f0c05a}.st-up{background:#2e9e44}
        .st-etcdleader{background:#6c4f9e}.fault{background:#e4572e33}.splitbrain{background:#b0002055}
        .w-ok{background:#2e9e44}.w-fail{background:#d1495b}.w-ind{background:#888}.w-lost{background:#000}
        .cause{color:#444;margin:2px 0 2px 12px}
        svg .noise-tagged{stroke:#000;stroke-width:1} svg .noise-label{font-weight:600}
        """

    /// Zoom: every plotted element carries its time span (`data-a`, `data-b` in seconds, or
    /// `data-t` for a point); zooming recomputes their x positions in place.
    static let script = """
        (function(){try{
        var svg=document.getElementById('tl');var L=+svg.dataset.l,W=+svg.dataset.w,D=+svg.dataset.d;
        var a=0,b=D;function X(t){return L+(t-a)/(b-a)*W;}
        var els=svg.querySelectorAll('[data-a],[data-t]');
        function fmt(s){var m=Math.floor(s/60),r=s-60*m;r=(Math.abs(r-Math.round(r))<1e-6)?String(Math.round(r)):r.toFixed(1);
          return m>0?(r==='0'?m+'m':m+'m'+r+'s'):r+'s';}
        function draw(){for(var i=0;i<els.length;i++){var e=els[i],d=e.dataset;
          if(d.a!==undefined){var x0=Math.max(L,Math.min(L+W,X(+d.a))),x1=Math.max(L,Math.min(L+W,X(+d.b)));
            if(e.tagName==='line'){e.setAttribute('x1',x0);e.setAttribute('x2',x1);}
            else{e.setAttribute('x',x0);e.setAttribute('width',Math.max(x1>x0?0.6:0,x1-x0));}}
          else{var x=X(+d.t);var vis=x>=L-0.5&&x<=L+W+0.5;e.style.display=vis?'':'none';
            if(e.tagName==='line'){e.setAttribute('x1',x);e.setAttribute('x2',x);}
            else if(e.tagName==='text'){e.setAttribute('x',x+(+(d.dx||0)));}
            else{e.setAttribute('x',x-(+(d.hw||0)));}}}
          var ax=document.getElementById('axis');while(ax.firstChild)ax.removeChild(ax.firstChild);
          var span=b-a,steps=[1,2,5,10,15,30,60,120,300,600,900,1800,3600],st=steps[steps.length-1];
          for(var k=0;k<steps.length;k++){if(span/steps[k]<=12){st=steps[k];break;}}
          for(var t=Math.ceil(a/st)*st;t<=b+1e-9;t+=st){var x=X(t);
            var ln=document.createElementNS('http://www.w3.org/2000/svg','line');ln.setAttribute('x1',x);ln.setAttribute('x2',x);
            ln.setAttribute('y1',14);ln.setAttribute('y2',svg.viewBox.baseVal.height);ln.setAttribute('stroke','#0000000f');ax.appendChild(ln);
            var tx=document.createElementNS('http://www.w3.org/2000/svg','text');tx.setAttribute('x',x+2);tx.setAttribute('y',11);
            tx.textContent=fmt(t);ax.appendChild(tx);}
          document.getElementById('window').textContent=(a>0||b<D)?('showing '+fmt(a)+' – '+fmt(b)):'';}
        var sel=document.getElementById('sel'),x0=null;
        function sx(ev){var p=svg.createSVGPoint();p.x=ev.clientX;p.y=ev.clientY;return p.matrixTransform(svg.getScreenCTM().inverse()).x;}
        svg.addEventListener('mousedown',function(ev){var x=sx(ev);if(x<L||x>L+W)return;x0=x;sel.setAttribute('x',x);sel.setAttribute('width',0);sel.style.display='';});
        svg.addEventListener('mousemove',function(ev){if(x0===null)return;var x=Math.max(L,Math.min(L+W,sx(ev)));
          sel.setAttribute('x',Math.min(x,x0));sel.setAttribute('width',Math.abs(x-x0));});
        window.addEventListener('mouseup',function(ev){if(x0===null)return;var x=Math.max(L,Math.min(L+W,sx(ev)));sel.style.display='none';
          if(Math.abs(x-x0)>4){var t0=a+(Math.min(x,x0)-L)/W*(b-a),t1=a+(Math.max(x,x0)-L)/W*(b-a);a=t0;b=Math.max(t1,t0+0.01);draw();}x0=null;});
        function reset(){a=0;b=D;draw();}
        svg.addEventListener('dblclick',reset);document.getElementById('reset').addEventListener('click',reset);
        // #t=120-180 in the address zooms to that window (seconds), so a view can be shared.
        var m=/t=([0-9.]+)-([0-9.]+)/.exec(location.hash);if(m&&+m[2]>+m[1]){a=Math.max(0,+m[1]);b=Math.min(D,+m[2]);}
        draw();document.body.dataset.status='ok';
        }catch(e){document.body.dataset.status='error: '+e;}})();
        window.addEventListener('error',function(e){document.body.dataset.status='error: '+e.message;});
        """
}
