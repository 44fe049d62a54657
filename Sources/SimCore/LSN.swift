/// WAL positions as PostgreSQL prints them (`pg_lsn`'s output): the high and low 32 bits in
/// upper-case hex, `0/5789800`.
public enum LSN {
    public static func format(_ lsn: Int64) -> String {
        let v = UInt64(bitPattern: max(0, lsn))
        return String(v >> 32, radix: 16, uppercase: true) + "/" + String(v & 0xFFFF_FFFF, radix: 16, uppercase: true)
    }
}
