#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// The few libm functions the samplers need, behind one name each so that a move to our own
// implementations (should a libm ever round differently) is one change.

@inlinable public func logExact(_ x: Double) -> Double { log(x) }
@inlinable public func log1mExact(_ u: Double) -> Double { log1p(-u) }
@inlinable public func expExact(_ x: Double) -> Double { exp(x) }
@inlinable public func log10Exact(_ x: Double) -> Double { log10(x) }

