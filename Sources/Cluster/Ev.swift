import SimCore

/// Every event in a simulation: the world's own, and each model's inputs.
public enum Ev {
    /// Fault `i` of the scenario fires.
    case fault(Int)
    /// Fault `i`'s `for:` ran out.
    case faultUndo(Int)
    /// Host `h` finished booting: start its services.
    case boot(Int)

    /// A 64-bit summary for the trace hash: the case, then its most telling fields.
    var traceKey: UInt64 {
        switch self {
        case .fault(let i): return 1 << 56 | UInt64(i)
        case .faultUndo(let i): return 2 << 56 | UInt64(i)
        case .boot(let h): return 3 << 56 | UInt64(h)
        }
    }
}

extension Simulation {
    func dispatch(_ e: Event<Ev>) {
        switch e.payload {
        case .fault(let i): applyFault(i, undoing: false)
        case .faultUndo(let i): applyFault(i, undoing: true)
        case .boot(let h): boot(h)
        }
    }
}
