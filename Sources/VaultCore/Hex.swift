public enum Hex {
    private static let digits: [UInt8] = Array("0123456789abcdef".utf8)
    public static func encode<S: Sequence>(_ bytes: S) -> String where S.Element == UInt8 {
        var out: [UInt8] = []
        out.reserveCapacity(64)
        for b in bytes { out.append(digits[Int(b >> 4)]); out.append(digits[Int(b & 15)]) }
        return String(decoding: out, as: UTF8.self)
    }

    /// Appends the 32 bytes of `s` to `out` when `s` is a SHA-256 as pgvault writes it (64
    /// lowercase hex digits); false, and `out` unchanged, otherwise.
    public static func appendSHA256(_ s: String, to out: inout [UInt8]) -> Bool {
        var s = s
        return s.withUTF8 { u -> Bool in
            guard u.count == 64 else { return false }
            let start = out.count
            out.append(contentsOf: repeatElement(0, count: 32))
            let ok = out.withUnsafeMutableBufferPointer { o -> Bool in
                var bad: UInt8 = 0
                for i in 0..<32 {
                    let hi = nibble(u[2 * i]), lo = nibble(u[2 * i + 1])
                    bad |= (hi | lo) & 0xF0
                    o[start + i] = hi << 4 | (lo & 0x0F)
                }
                return bad == 0
            }
            if !ok { out.removeLast(32) }
            return ok
        }
    }

    /// The value of lowercase hex digit `c`, or 0xFF.
    @inline(__always) private static func nibble(_ c: UInt8) -> UInt8 {
        if c &- 48 < 10 { return c &- 48 }
        if c &- 97 < 6 { return c &- 87 }
        return 0xFF
    }

    /// Bytes of a hex string; nil when it is not hex of even length.
    public static func decode(_ s: String) -> [UInt8]? {
        let u = Array(s.utf8)
        guard u.count % 2 == 0 else { return nil }
        func v(_ c: UInt8) -> UInt8? {
            switch c {
            case 48...57: return c - 48
            case 97...102: return c - 87
            case 65...70: return c - 55
            default: return nil
            }
        }
        var out: [UInt8] = []
        out.reserveCapacity(u.count / 2)
        var i = 0
        while i < u.count {
            guard let hi = v(u[i]), let lo = v(u[i + 1]) else { return nil }
            out.append(hi << 4 | lo)
            i += 2
        }
        return out
    }

    public static func isSHA256(_ s: String) -> Bool {
        s.utf8.count == 64 && s.utf8.allSatisfy { (48...57).contains($0) || (97...102).contains($0) }
    }
}
