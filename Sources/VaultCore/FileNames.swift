/// Escaping of database names into file names (documented in vault/FORMAT.md, "File names").
///
/// Bytes `A-Z a-z 0-9 _ - .` are kept, except a leading `-` or `.`, which would read as an
/// option or a hidden file; every other byte of the UTF-8 name (space, `/`, `%`, quotes,
/// non-ASCII) becomes `%XX` with upper-case hex. The result is never empty, never contains `/`,
/// and maps back to exactly one name (`unescape`).
public enum FileNames {
    public static func escape(_ name: String) -> String {
        var out = ""
        let bytes = Array(name.utf8)
        for (i, b) in bytes.enumerated() {
            let keep: Bool
            switch b {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                 UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "_"):
                keep = true
            case UInt8(ascii: "-"), UInt8(ascii: "."):
                keep = i > 0
            default:
                keep = false
            }
            if keep { out.append(Character(Unicode.Scalar(b))) }
            else { out += "%" + hex2(b) }
        }
        return out.isEmpty ? "%" : out
    }

    public static func unescape(_ escaped: String) -> String? {
        var bytes: [UInt8] = []
        var it = Array(escaped.utf8)[...]
        while let b = it.first {
            it = it.dropFirst()
            if b == UInt8(ascii: "%") {
                guard it.count >= 2, let v = UInt8(String(decoding: it.prefix(2), as: UTF8.self), radix: 16) else { return nil }
                bytes.append(v); it = it.dropFirst(2)
            } else { bytes.append(b) }
        }
        return String(validating: bytes, as: UTF8.self)
    }

    private static func hex2(_ b: UInt8) -> String {
        let digits = Array("0123456789ABCDEF")
        return String([digits[Int(b >> 4)], digits[Int(b & 15)]])
    }
}
