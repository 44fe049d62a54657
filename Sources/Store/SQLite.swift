import CSQLite

/// A thin wrapper over the system SQLite: open, exec, prepared statements, transactions.
public final class Database {
    public struct Error: Swift.Error, CustomStringConvertible {
        public var message: String
        public var description: String { message }
    }

    let handle: OpaquePointer
    public let path: String

    /// `SQLITE_TRANSIENT` is a C macro Swift does not import: the bit pattern -1 tells SQLite
    /// to copy bound text before the call returns.
    static let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)

    public init(path: String) throws {
        var h: OpaquePointer?
        let rc = sqlite3_open_v2(path, &h, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nil)
        guard rc == SQLITE_OK, let h else {
            let msg = h.map { String(cString: sqlite3_errmsg($0)) } ?? "cannot open"
            if let h { sqlite3_close(h) }
            throw Error(message: "\(path): \(msg)")
        }
        handle = h
        self.path = path
        sqlite3_busy_timeout(h, 30_000)
    }

    deinit { sqlite3_close_v2(handle) }

    var lastError: String { String(cString: sqlite3_errmsg(handle)) }

    public func exec(_ sql: String) throws {
        var err: UnsafeMutablePointer<CChar>?
        if sqlite3_exec(handle, sql, nil, nil, &err) != SQLITE_OK {
            let msg = err.map { String(cString: $0) } ?? lastError
            sqlite3_free(err)
            throw Error(message: "\(path): \(msg)")
        }
    }

    public func prepare(_ sql: String) throws -> Statement {
        var st: OpaquePointer?
        guard sqlite3_prepare_v2(handle, sql, -1, &st, nil) == SQLITE_OK, let st else {
            throw Error(message: "\(path): \(lastError) in: \(sql)")
        }
        return Statement(db: self, st: st)
    }

    public var lastInsertRowID: Int64 { sqlite3_last_insert_rowid(handle) }

    /// Runs `body` inside `BEGIN IMMEDIATE … COMMIT`; any error rolls everything back.
    public func transaction<T>(_ body: () throws -> T) throws -> T {
        try exec("BEGIN IMMEDIATE")
        do {
            let v = try body()
            try exec("COMMIT")
            return v
        } catch {
            try? exec("ROLLBACK")
            throw error
        }
    }

    /// Rows of a query as arrays of optional strings (for tools and tests).
    public func rows(_ sql: String, _ args: [Value] = []) throws -> [[String?]] {
        let st = try prepare(sql)
        try st.bind(args)
        var out: [[String?]] = []
        while try st.step() { out.append((0..<st.columnCount).map { st.text($0) }) }
        return out
    }

    public func scalarInt(_ sql: String, _ args: [Value] = []) throws -> Int64? {
        let st = try prepare(sql)
        try st.bind(args)
        return try st.step() ? st.int(0) : nil
    }

    public enum Value {
        case null, int(Int64), double(Double), text(String)
    }

    public final class Statement {
        unowned let db: Database
        let st: OpaquePointer
        init(db: Database, st: OpaquePointer) {
            self.db = db
            self.st = st
        }
        deinit { sqlite3_finalize(st) }

        public func bind(_ values: [Value]) throws {
            sqlite3_reset(st)
            sqlite3_clear_bindings(st)
            for (i, v) in values.enumerated() {
                let idx = Int32(i + 1)
                let rc: Int32
                switch v {
                case .null: rc = sqlite3_bind_null(st, idx)
                case .int(let x): rc = sqlite3_bind_int64(st, idx, x)
                case .double(let x): rc = x.isFinite ? sqlite3_bind_double(st, idx, x) : sqlite3_bind_null(st, idx)
                case .text(let s): rc = sqlite3_bind_text(st, idx, s, -1, Database.transient)
                }
                if rc != SQLITE_OK { throw Error(message: "\(db.path): bind: \(db.lastError)") }
            }
        }

        /// Binds and runs a statement that returns no rows.
        public func run(_ values: [Value]) throws {
            try bind(values)
            let rc = sqlite3_step(st)
            if rc != SQLITE_DONE && rc != SQLITE_ROW { throw Error(message: "\(db.path): \(db.lastError)") }
        }

        /// Advances to the next row; false at the end.
        public func step() throws -> Bool {
            let rc = sqlite3_step(st)
            if rc == SQLITE_ROW { return true }
            if rc == SQLITE_DONE { return false }
            throw Error(message: "\(db.path): \(db.lastError)")
        }

        public var columnCount: Int { Int(sqlite3_column_count(st)) }

        public func text(_ i: Int) -> String? {
            guard sqlite3_column_type(st, Int32(i)) != SQLITE_NULL, let p = sqlite3_column_text(st, Int32(i)) else { return nil }
            return String(cString: p)
        }
        public func int(_ i: Int) -> Int64? {
            sqlite3_column_type(st, Int32(i)) == SQLITE_NULL ? nil : sqlite3_column_int64(st, Int32(i))
        }
        public func double(_ i: Int) -> Double? {
            sqlite3_column_type(st, Int32(i)) == SQLITE_NULL ? nil : sqlite3_column_double(st, Int32(i))
        }

        /// A value a row must have: a store written by another program, or damaged, gets a
        /// message naming the file and the column instead of a crash.
        public func reqText(_ i: Int) throws -> String { try required(i, text(i), "text") }
        public func reqInt(_ i: Int) throws -> Int64 { try required(i, int(i), "an integer") }
        public func reqDouble(_ i: Int) throws -> Double { try required(i, double(i), "a number") }

        func required<T>(_ i: Int, _ v: T?, _ what: String) throws -> T {
            if let v { return v }
            let name = sqlite3_column_name(st, Int32(i)).map { String(cString: $0) } ?? "\(i)"
            throw Error(message: "\(db.path): a row has no value in column '\(name)' (expected \(what)); this is not a store simctl wrote, or it is damaged")
        }
    }
}
