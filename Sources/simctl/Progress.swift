#if canImport(Glibc)
import Glibc
#endif
import SimCore

/// A one-line progress bar on stderr — only when stderr is a terminal (CI logs stay clean).
struct ProgressBar {
    let enabled: Bool
    let label: String
    let started = wallSeconds()
    var lastDraw = 0.0

    init(label: String) {
        enabled = isatty(2) != 0
        self.label = label
    }

    /// `unit`: what is counted ("runs", or "s" for a wall-clock budget).
    mutating func update(_ done: Int, _ total: Int, unit: String = "runs") {
        guard enabled, total > 0 else { return }
        let now = wallSeconds()
        if done < total && now - lastDraw < 0.1 { return }
        lastDraw = now
        let elapsed = now - started
        let rate = elapsed > 0 ? Double(done) / elapsed : 0
        let left = rate > 0 ? Double(total - done) / rate : 0
        let width = 24
        let filled = total > 0 ? width * done / total : 0
        let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
        let line = "\r\(label) [\(bar)] \(done)/\(total) \(unit)\(unit == "runs" ? ", \(String(fixed: rate, decimals: 1)) runs/s" : ""), \(DurationText.format(Time.fromSeconds(left.rounded()))) left  "
        printErrNoNewline(line)
    }

    func finish() {
        guard enabled else { return }
        printErrNoNewline("\r" + String(repeating: " ", count: 100) + "\r")
    }
}

func printErrNoNewline(_ s: String) {
    _ = s.withCString { write(2, $0, strlen($0)) }
}
