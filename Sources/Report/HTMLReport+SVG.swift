import SimCore
import Analysis
import Recording

extension HTMLReport {
    /// A small SVG writer on the report's time axis: x = label column + t / duration × plot width.
    /// Every plotted element records its time span so that the page's script can zoom.
    struct SVG {
        let duration: Nanos
        var y = 0.0
        /// Shaded bands across every lane (faults, split brain), drawn first.
        var bands: [String] = []
        var body: [String] = []

        init(duration: Nanos) { self.duration = duration }

        func x(_ t: Nanos) -> Double { HTMLReport.labelW + Double(max(0, min(t, duration))) / Double(duration) * HTMLReport.plotW }
        static func n(_ v: Double) -> String { String(fixed: v, decimals: 1) }
        static func s(_ t: Nanos) -> String { String(fixed: Double(t) / 1e9, decimals: 3) }

        /// A rectangle over [a, b] at the current lane, with a hover title.
        mutating func span(_ a: Nanos, _ b: Nanos, y: Double, h: Double, cls: String, fill: String? = nil, title: String, extra: String = "") {
            let x0 = x(a), x1 = x(b)
            var e = "<rect class=\"\(cls)\" data-a=\"\(Self.s(a))\" data-b=\"\(Self.s(b))\" x=\"\(Self.n(x0))\" y=\"\(Self.n(y))\" width=\"\(Self.n(max(0.6, x1 - x0)))\" height=\"\(Self.n(h))\""
            if let fill { e += " fill=\"\(fill)\"" }
            e += extra + "><title>\(HTMLReport.esc(title))</title></rect>"
            body.append(e)
        }

        /// A point mark (a diamond-ish tick) at t.
        mutating func mark(_ t: Nanos, y: Double, h: Double, cls: String, fill: String, title: String, w: Double = 3) {
            let xx = x(t)
            body.append("<rect class=\"\(cls)\" data-t=\"\(Self.s(t))\" data-hw=\"\(Self.n(w / 2))\" x=\"\(Self.n(xx - w / 2))\" y=\"\(Self.n(y))\" width=\"\(Self.n(w))\" height=\"\(Self.n(h))\" fill=\"\(fill)\"><title>\(HTMLReport.esc(title))</title></rect>")
        }

        mutating func text(_ t: Nanos, y: Double, _ s: String, cls: String = "", dx: Double = 2) {
            body.append("<text class=\"\(cls)\" data-t=\"\(Self.s(t))\" data-dx=\"\(Self.n(dx))\" x=\"\(Self.n(x(t) + dx))\" y=\"\(Self.n(y))\">\(HTMLReport.esc(s))</text>")
        }

        /// A label in the left column.
        mutating func label(_ s: String, y: Double, cls: String = "lab", indent: Double = 8) {
            body.append("<text class=\"\(cls)\" x=\"\(Self.n(indent))\" y=\"\(Self.n(y))\">\(HTMLReport.esc(s))</text>")
        }

        /// A band over every lane (drawn behind them).
        mutating func band(_ a: Nanos, _ b: Nanos, cls: String, fill: String, title: String, extra: String = "") {
            let x0 = x(a), x1 = x(b)
            bands.append("<rect class=\"\(cls)\" data-a=\"\(Self.s(a))\" data-b=\"\(Self.s(b))\" x=\"\(Self.n(x0))\" y=\"14\" width=\"\(Self.n(max(0.6, x1 - x0)))\" height=\"@H\" fill=\"\(fill)\"\(extra)><title>\(HTMLReport.esc(title))</title></rect>")
        }

        mutating func open(_ lane: String, cls: String = "lane") { body.append("<g class=\"\(cls)\" data-lane=\"\(HTMLReport.esc(lane))\">") }
        mutating func close() { body.append("</g>") }

        /// The static axis (the script redraws it on zoom).
        func axis(height: Double) -> String {
            let secs = Double(duration) / 1e9
            let steps: [Double] = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600]
            let step = steps.first { secs / $0 <= 12 } ?? 3600
            var out = "<g id=\"axis\">"
            var t = 0.0
            while t <= secs + 1e-9 {
                let xx = HTMLReport.labelW + t / secs * HTMLReport.plotW
                out += "<line x1=\"\(Self.n(xx))\" x2=\"\(Self.n(xx))\" y1=\"14\" y2=\"\(Self.n(height))\" stroke=\"#0000000f\"/>"
                out += "<text x=\"\(Self.n(xx + 2))\" y=\"11\">\(TextClock.short(Time.fromSeconds(t)))</text>"
                t += step
            }
            return out + "</g>"
        }

        func document() -> String {
            let height = y + 8
            let w = HTMLReport.labelW + HTMLReport.plotW + 30
            var out = "<svg id=\"tl\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 \(Self.n(w)) \(Self.n(height))\" data-l=\"\(Self.n(HTMLReport.labelW))\" data-w=\"\(Self.n(HTMLReport.plotW))\" data-d=\"\(Self.s(duration))\">\n"
            out += "<defs><clipPath id=\"plot\"><rect x=\"\(Self.n(HTMLReport.labelW))\" y=\"0\" width=\"\(Self.n(HTMLReport.plotW))\" height=\"\(Self.n(height))\"/></clipPath></defs>\n"
            out += axis(height: height) + "\n"
            out += "<g clip-path=\"url(#plot)\">\n" + bands.map { $0.replacingOccurrences(of: "@H", with: Self.n(height - 14)) }.joined(separator: "\n") + "\n</g>\n"
            out += body.joined(separator: "\n") + "\n"
            out += "<rect id=\"sel\" x=\"0\" y=\"14\" width=\"0\" height=\"\(Self.n(height - 14))\" fill=\"#3366ff22\" stroke=\"#3366ff\" style=\"display:none\"/>\n"
            out += "</svg>\n"
            return out
        }
    }
}
