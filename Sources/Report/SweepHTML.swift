import SimCore

/// A sweep as one self-contained HTML page: per setting, the RTO distribution over its seeds
/// (a box plot on one shared axis, with every run as a dot), lost writes and split-brain runs;
/// for a grid of two keys, heatmaps of p95 RTO and mean lost writes. Inline SVG, no script.
public enum SweepHTML {
    public struct Row: Sendable {
        public var label: String
        public var adjusted: Bool
        /// Worst RTO per run in seconds, ascending; `.infinity` for never recovered.
        public var rtos: [Double]
        public var runs: Int
        public var lostMean: Double
        public var lostMax: Int
        public var runsWithLoss: Int
        public var splitBrainRuns: Int
        public var failedRuns: Int
        /// The worst runs, each with its replay command.
        public var worst: [(what: String, command: String)]
        /// The values of the grid's axes (for the heatmap).
        public var values: [String]
        public init(label: String, adjusted: Bool, rtos: [Double], runs: Int, lostMean: Double, lostMax: Int, runsWithLoss: Int,
                    splitBrainRuns: Int, failedRuns: Int, worst: [(what: String, command: String)], values: [String]) {
            self.label = label; self.adjusted = adjusted; self.rtos = rtos; self.runs = runs; self.lostMean = lostMean
            self.lostMax = lostMax; self.runsWithLoss = runsWithLoss; self.splitBrainRuns = splitBrainRuns; self.failedRuns = failedRuns
            self.worst = worst; self.values = values
        }
    }
    public struct Input: Sendable {
        public var title: String
        public var file: String
        public var seeds: Int
        public var axes: [(key: String, values: [String])]
        public var rows: [Row]
        public var objective: String?
        public var best: String?
        public init(title: String, file: String, seeds: Int, axes: [(key: String, values: [String])], rows: [Row], objective: String?, best: String?) {
            self.title = title; self.file = file; self.seeds = seeds; self.axes = axes; self.rows = rows; self.objective = objective; self.best = best
        }
    }

    static func esc(_ s: String) -> String { HTMLReport.esc(s) }
    static func n(_ v: Double) -> String { String(fixed: v, decimals: 1) }
    static func sec(_ v: Double?) -> String {
        guard let v else { return "—" }
        return v.isInfinite ? "never" : DurationText.seconds3(Time.fromSeconds(v)) + " s"
    }
    static func pct(_ r: [Double], _ p: Double) -> Double? {
        guard !r.isEmpty else { return nil }
        let rank = Int((p / 100 * Double(r.count)).rounded(.up))
        return r[min(max(rank, 1), r.count) - 1]
    }

    public static func render(_ x: Input) -> String {
        var h = "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>\(esc(x.title)) sweep</title>\n<style>\(css)</style></head>\n<body>\n"
        h += "<h1>\(esc(x.title)): \(x.rows.count) setting\(x.rows.count == 1 ? "" : "s") × \(x.seeds) seeds</h1>\n<p class=\"meta\">\(esc(x.file))"
        h += " · seed k is the same in every setting (common random numbers)"
        if let o = x.objective { h += " · objective: <code>\(esc(o))</code> → <b>\(esc(x.best ?? "no setting meets it"))</b>" }
        h += "</p>\n"
        if x.rows.contains(where: \.adjusted) {
            h += "<p class=\"warn\">a → b: Patroni ran the setting asked for (a) as b (its timeout rules); the figures are b's.</p>\n"
        }
        h += "<h2>RTO over the seeds</h2>\n" + boxes(x)
        h += "<h2>Lost writes and split brain</h2>\n" + bars(x)
        if x.axes.count == 2 {
            h += "<h2>Heatmaps</h2>\n<div class=\"heat\">"
            h += heatmap(x, title: "RTO p95", value: { pct($0.rtos, 95) }, text: { sec($0) })
            h += heatmap(x, title: "lost writes (mean)", value: { $0.lostMean }, text: { $0.map { String(fixed: $0, decimals: 1) } ?? "—" })
            h += "</div>\n"
        }
        h += "<h2>Worst runs</h2>\n<table><tr><th>setting</th><th>run</th><th>replay</th></tr>\n"
        for r in x.rows {
            for w in r.worst { h += "<tr><td>\(esc(r.label))</td><td>\(esc(w.what))</td><td><code>\(esc(w.command))</code></td></tr>\n" }
        }
        h += "</table>\n</body></html>\n"
        return h
    }

    /// One box per setting on a shared seconds axis: whiskers at the minimum and p95, box from
    /// p25 to p75, the median marked, each run a dot; runs that never recovered at the right.
    static func boxes(_ x: Input) -> String {
        let finite = x.rows.flatMap { $0.rtos.filter(\.isFinite) }
        let top = max(1, (finite.max() ?? 1) * 1.05)
        let left = 230.0, width = 760.0, rowH = 26.0
        let height = Double(x.rows.count) * rowH + 30
        func px(_ v: Double) -> Double { left + (v.isInfinite ? width + 30 : v / top * width) }
        var s = "<svg class=\"box\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 \(n(left + width + 60)) \(n(height))\">\n"
        let step = [1.0, 2, 5, 10, 15, 30, 60, 120, 300].first { top / $0 <= 10 } ?? 600
        var t = 0.0
        while t <= top {
            s += "<line x1=\"\(n(px(t)))\" x2=\"\(n(px(t)))\" y1=\"0\" y2=\"\(n(height - 18))\" stroke=\"#0000000f\"/><text x=\"\(n(px(t) - 8))\" y=\"\(n(height - 4))\">\(DurationText.format(Time.fromSeconds(t)))</text>\n"
            t += step
        }
        s += "<text x=\"\(n(px(.infinity) - 14))\" y=\"\(n(height - 4))\">never</text>\n"
        for (k, r) in x.rows.enumerated() {
            let y = Double(k) * rowH + 6, mid = y + 9
            s += "<g class=\"setting\" data-setting=\"\(esc(r.label))\"><text x=\"6\" y=\"\(n(mid + 4))\"\(r.label == x.best ? " class=\"best\"" : "")>\(esc(r.label))</text>\n"
            let f = r.rtos.filter(\.isFinite)
            if let lo = f.first, let p25 = pct(f, 25), let p50 = pct(f, 50), let p75 = pct(f, 75), let p95 = pct(f, 95) {
                s += "<line x1=\"\(n(px(lo)))\" x2=\"\(n(px(p95)))\" y1=\"\(n(mid))\" y2=\"\(n(mid))\" stroke=\"#555\"/>"
                s += "<rect x=\"\(n(px(p25)))\" y=\"\(n(y + 2))\" width=\"\(n(max(1, px(p75) - px(p25))))\" height=\"14\" fill=\"#7fb3d5\" stroke=\"#29335c\">"
                s += "<title>\(esc(r.label)): p25 \(sec(p25)), median \(sec(p50)), p75 \(sec(p75)), p95 \(sec(p95)), max \(sec(r.rtos.last))</title></rect>"
                s += "<line x1=\"\(n(px(p50)))\" x2=\"\(n(px(p50)))\" y1=\"\(n(y + 2))\" y2=\"\(n(y + 16))\" stroke=\"#29335c\" stroke-width=\"2\"/>"
            }
            for v in r.rtos { s += "<circle cx=\"\(n(px(v)))\" cy=\"\(n(mid))\" r=\"1.6\" fill=\"\(v.isInfinite ? "#b00020" : "#0006")\"><title>\(sec(v))</title></circle>" }
            s += "</g>\n"
        }
        return s + "</svg>\n"
    }

    /// Per setting: mean lost writes (bar), runs that lost any, and runs with a split brain.
    static func bars(_ x: Input) -> String {
        let left = 230.0, width = 560.0, rowH = 22.0
        let top = max(1, x.rows.map(\.lostMean).max() ?? 1)
        var s = "<svg class=\"bars\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 \(n(left + width + 260)) \(n(Double(x.rows.count) * rowH + 10))\">\n"
        for (k, r) in x.rows.enumerated() {
            let y = Double(k) * rowH + 4
            s += "<text x=\"6\" y=\"\(n(y + 12))\">\(esc(r.label))</text>"
            let w = r.lostMean / top * width
            s += "<rect x=\"\(n(left))\" y=\"\(n(y))\" width=\"\(n(max(0.5, w)))\" height=\"14\" fill=\"\(r.lostMean > 0 ? "#d1495b" : "#ccc")\"><title>\(esc(r.label)): \(String(fixed: r.lostMean, decimals: 2)) lost writes per run on average, at most \(r.lostMax)</title></rect>"
            s += "<text x=\"\(n(left + w + 4))\" y=\"\(n(y + 12))\">mean \(String(fixed: r.lostMean, decimals: 1)), max \(r.lostMax); \(r.runsWithLoss)/\(r.runs) runs lost writes; \(r.splitBrainRuns) split brain; \(r.failedRuns) failed expectations</text>\n"
        }
        return s + "</svg>\n"
    }

    /// Two axes: rows are the first key's values, columns the second's; colour from the value.
    static func heatmap(_ x: Input, title: String, value: (Row) -> Double?, text: (Double?) -> String) -> String {
        let a = x.axes[0], b = x.axes[1]
        let vals = x.rows.compactMap(value).filter(\.isFinite)
        let lo = vals.min() ?? 0, hi = vals.max() ?? 1
        var s = "<table class=\"hm\"><caption>\(esc(title))</caption><tr><th>\(esc(a.key)) \\ \(esc(b.key))</th>"
        for v in b.values { s += "<th>\(esc(v))</th>" }
        s += "</tr>\n"
        for va in a.values {
            s += "<tr><th>\(esc(va))</th>"
            for vb in b.values {
                let r = x.rows.first { $0.values == [va, vb] }
                let v = r.flatMap(value)
                let f = v.map { $0.isFinite ? (hi > lo ? ($0 - lo) / (hi - lo) : 0) : 1 } ?? 0
                // Green (low) to red (high).
                let red = Int(60 + 180 * f), green = Int(180 - 120 * f)
                s += "<td style=\"background:rgb(\(red),\(green),90)\"\(r?.adjusted == true ? " title=\"Patroni adjusted this setting\"" : "")>\(esc(text(v)))\(r?.adjusted == true ? "*" : "")</td>"
            }
            s += "</tr>\n"
        }
        return s + "</table>\n"
    }

    static let css = """
        body{font:13px/1.4 -apple-system,"Segoe UI",Helvetica,Arial,sans-serif;margin:16px;color:#222}
        h1{font-size:19px} h2{font-size:15px;margin-top:18px} .meta{color:#666} .warn{color:#8a5a00}
        svg{width:100%;max-width:1100px;height:auto;border:1px solid #e5e5e5} svg text{font-size:11px;fill:#333} svg .best{font-weight:700}
        table{border-collapse:collapse;margin:6px 0} td,th{border:1px solid #ddd;padding:3px 8px;text-align:left}
        .hm td{color:#fff;text-align:right;min-width:60px} .heat{display:flex;gap:24px;flex-wrap:wrap} code{font-size:12px}
        """
}
