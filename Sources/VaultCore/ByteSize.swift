/// Byte sizes as users write them: `1TiB`, `500MB`, `64k`, `1048576`.
/// SI suffixes (kB, MB, GB, TB) are powers of 1000, IEC suffixes (KiB, MiB, GiB, TiB) powers of
/// 1024; a bare `K`/`M`/`G`/`T` is taken as IEC (the convention of pg and GNU tools).
public enum ByteSize {
    public static func parse(_ text: String) -> Int64? {
        let t = text.trimmingCharacters(in: .whitespaces)
        guard !t.isEmpty else { return nil }
        var digits = ""
        var rest = Substring(t)
        while let c = rest.first, c.isNumber || c == "." {
            digits.append(c); rest = rest.dropFirst()
        }
        guard let value = Double(digits), value >= 0 else { return nil }
        let unit = rest.trimmingCharacters(in: .whitespaces).lowercased()
        let mult: Double
        switch unit {
        case "", "b": mult = 1
        case "kb": mult = 1e3
        case "mb": mult = 1e6
        case "gb": mult = 1e9
        case "tb": mult = 1e12
        case "k", "kib": mult = 1024
        case "m", "mib": mult = 1024 * 1024
        case "g", "gib": mult = 1024 * 1024 * 1024
        case "t", "tib": mult = 1024 * 1024 * 1024 * 1024
        default: return nil
        }
        let r = value * mult
        guard r < 9.2e18 else { return nil }
        return Int64(r.rounded())
    }

    /// Human form: IEC units (`1.5 GiB`, `812 B`), or SI units for a round SI number such
    /// as the default bytea limit (`500 MB`), so a limit reads the way it was written.
    public static func format(_ bytes: Int64) -> String {
        let si = bytes >= 1_000_000 && bytes % 1_000_000 == 0 && bytes % (1 << 20) != 0
        let units = si ? ["B", "kB", "MB", "GB", "TB", "PB"] : ["B", "KiB", "MiB", "GiB", "TiB", "PiB"]
        let step: Double = si ? 1000 : 1024
        var v = Double(bytes)
        var i = 0
        while abs(v) >= step && i < units.count - 1 { v /= step; i += 1 }
        if i == 0 { return "\(bytes) B" }
        let rounded = (v * 10).rounded() / 10
        if rounded == rounded.rounded() { return "\(Int(rounded)) \(units[i])" }
        return "\(rounded) \(units[i])"
    }
}

import Foundation
