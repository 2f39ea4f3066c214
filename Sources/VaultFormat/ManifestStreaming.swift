public import Foundation
import Crypto
import CZstd
public import VaultCore
public import VaultStorage

extension ManifestCodec {
    /// The manifest stored at `key`, read from `storage` in pieces and decoded without ever
    /// holding its JSON (or the stored object) whole, and that JSON's SHA-256 when `sha256` is
    /// set (the manifest sha256 of `verify` and `show --evidence`).
    ///
    /// Why: a manifest names every chunk of every file with its whole delta chain, about 1.2 KB
    /// of JSON a chunk; a 1 TiB database (~650,000 chunks) makes ~950 MB of JSON, ~400 MB stored
    /// (hex ids compress little). Decoded at once with `JSONDecoder`, the JSON, the decoder's
    /// index of it and the result took 3 GB at the peak. Here the object is read a MiB at a
    /// time, decompressed a MiB at a time and scanned (`ManifestScanner`): the chunk lists are
    /// decoded a few thousand entries at a time, everything else (small) at the end, so what
    /// stays is the result (with chains held packed, `ChunkIds`).
    public static func decode(_ storage: any Storage, key: String, sha256: Bool = false) throws -> (manifest: Manifest, sha256: String?) {
        let r = try decode(what: key, sha256: sha256, keepChunks: true) { feed in try storage.read(key) { try feed($0) } }
        return (r.manifest, r.sha256)
    }

    /// The manifest at `key` without its chunk lists (`Vault.summary`), how many chunks each
    /// file lists, and the JSON's SHA-256 when `sha256` is set: for `show`, which needs no chunk
    /// list, of a point of any size (the entries are only counted; `verify` is what checks them).
    public static func decodeSummary(_ storage: any Storage, key: String, sha256: Bool = false) throws
        -> (manifest: Manifest, chunkCounts: [Int], sha256: String?) {
        try decode(what: key, sha256: sha256, keepChunks: false) { feed in try storage.read(key) { try feed($0) } }
    }

    /// `decodeSummary` of stored manifest bytes already in memory.
    public static func decodeSummary(_ stored: Data, what: String) throws -> (manifest: Manifest, chunkCounts: [Int]) {
        let r = try decode(what: what, sha256: false, keepChunks: false) { feed in try stored.withUnsafeBytes { try feed($0) } }
        return (r.manifest, r.chunkCounts)
    }

    /// `decode` of stored manifest bytes already in memory.
    public static func decode(_ stored: Data, what: String, sha256: Bool = false) throws -> (manifest: Manifest, sha256: String?) {
        let r = try decode(what: what, sha256: sha256, keepChunks: true) { feed in try stored.withUnsafeBytes { try feed($0) } }
        return (r.manifest, r.sha256)
    }

    /// The size of the manifest JSON stored at `key`: from the frame header of a compressed
    /// one (only its first piece is read), by reading a plain one through.
    public static func jsonSize(_ storage: any Storage, key: String) throws -> Int64 {
        struct Known: Error {}
        var count: Int64 = 0
        let stream = StoredManifestStream(what: key) { count += Int64($0.count) }
        do {
            try storage.read(key) { piece in
                try stream.feed(piece)
                if stream.claimedSize != nil { throw Known() }
            }
            try stream.finish()
        } catch is Known {}
        return stream.claimedSize.map { Int64($0) } ?? count
    }

    /// Calls `body` with the manifest JSON stored at `key`, in order, a MiB at a time (checked
    /// as `decode` checks it).
    public static func readJSON(_ storage: any Storage, key: String, _ body: @escaping (UnsafeBufferPointer<UInt8>) throws -> Void) throws {
        let stream = StoredManifestStream(what: key, emit: body)
        try storage.read(key) { try stream.feed($0) }
        try stream.finish()
    }

    /// `decode` with the JSON's SHA-256.
    public static func decodeHashed(_ storage: any Storage, key: String) throws -> (manifest: Manifest, sha256: String) {
        let (manifest, hash) = try decode(storage, key: key, sha256: true)
        return (manifest, hash ?? "")
    }

    /// The manifest at `key` without its chunk lists, calling `visit` with its chunk entries a
    /// batch at a time, in order, with the index of the file (in `files`) whose list the batch
    /// belongs to (a batch never spans two files; a file with no chunks gets no call), holding
    /// none of them (garbage collection's mark, restore and verify: a 1 TiB point's decoded
    /// entries are hundreds of MB). Returns the manifest and how many entries each file lists.
    public static func decode(_ storage: any Storage, key: String, visit: @escaping (Int, [ChunkRef]) throws -> Void) throws
        -> (manifest: Manifest, chunkCounts: [Int]) {
        let r = try decode(what: key, sha256: false, keepChunks: true, visit: visit) { feed in try storage.read(key) { try feed($0) } }
        return (r.manifest, r.chunkCounts)
    }

    private static func decode(what: String, sha256: Bool, keepChunks: Bool, visit: ((Int, [ChunkRef]) throws -> Void)? = nil,
                               source: ((UnsafeRawBufferPointer) throws -> Void) throws -> Void) throws
        -> (manifest: Manifest, chunkCounts: [Int], sha256: String?) {
        var scanner = ManifestScanner(what: what, keepChunks: keepChunks, visit: visit)
        var hash = sha256 ? SHA256() : nil
        let json = StoredManifestStream(what: what) { piece in
            hash?.update(bufferPointer: UnsafeRawBufferPointer(piece))
            try scanner.feed(piece)
        }
        try source { try json.feed($0) }
        try json.finish()
        let manifest = try scanner.finish()
        return (manifest, scanner.chunkCounts, hash.map { Hex.encode($0.finalize()) })
    }
}

/// Turns a stored manifest, fed in pieces of any size, into its JSON in pieces of at most
/// 1 MiB: plain JSON (formats 1 and 2) as it comes, a compressed one (`pgvault-manifest+zstd`
/// and one zstd frame with its content size and checksum) decompressed as it comes, with the
/// checks `ManifestCodec.json` makes: the claimed size within `maxJSON`, exactly that many
/// bytes, the checksum, nothing after the frame.
final class StoredManifestStream {
    private let what: String
    private let emit: (UnsafeBufferPointer<UInt8>) throws -> Void
    /// The first bytes, until there are enough to tell the form and read the frame header.
    private var head: [UInt8] = []
    private enum Form { case undecided, plain, compressed }
    private var form = Form.undecided
    private var dctx: OpaquePointer?
    private var out: UnsafeMutableBufferPointer<UInt8>?
    private var claimed: UInt64 = 0, total: UInt64 = 0
    private var frameDone = false
    /// Bytes needed to decide: the magic line and the largest zstd frame header (18 bytes).
    private static let needed = ManifestCodec.magic.count + 18

    init(what: String, emit: @escaping (UnsafeBufferPointer<UInt8>) throws -> Void) {
        self.what = what
        self.emit = emit
    }

    deinit {
        if let dctx { ZSTD_freeDCtx(dctx) }
        out?.deallocate()
    }

    private func damaged(_ why: String) -> VaultError {
        VaultError(.corrupt, "\(what) is not a readable pgvault manifest (its zstd frame \(why)); the vault may be damaged. Restore the object from a copy of the vault, or run `pgvault verify` to see what else is affected.",
                   location: what)
    }

    func feed(_ piece: UnsafeRawBufferPointer) throws {
        switch form {
        case .plain: try emitPlain(piece)
        case .compressed: try decompress(piece)
        case .undecided:
            head.append(contentsOf: piece)
            if head.count >= Self.needed { try decide() }
        }
    }

    /// The JSON's size as the compressed form's frame header gives it, once known (nil for plain
    /// JSON, whose size is that of the object).
    var claimedSize: UInt64? { form == .compressed ? claimed : nil }

    func finish() throws {
        if form == .undecided { try decide() }
        guard form == .compressed else { return }
        guard frameDone else { throw damaged("is cut short") }
        guard total == claimed else { throw damaged("holds \(total) bytes, not \(claimed)") }
    }

    private func decide() throws {
        let bytes = head
        head = []
        guard bytes.starts(with: ManifestCodec.magic) else {
            form = .plain
            try bytes.withUnsafeBytes { try emitPlain($0) }
            return
        }
        form = .compressed
        let frame = bytes.dropFirst(ManifestCodec.magic.count)
        let size = frame.withUnsafeBytes { ZSTD_getFrameContentSize($0.baseAddress, $0.count) }
        // ZSTD_CONTENTSIZE_UNKNOWN and _ERROR are the two largest values.
        guard size < UInt64.max - 1 else { throw damaged("has no valid header") }
        guard size <= UInt64(ManifestCodec.maxJSON) else { throw damaged("claims \(size) bytes") }
        claimed = size
        guard let d = ZSTD_createDCtx() else { throw VaultError(.io, "out of memory for a zstd context reading \(what)") }
        dctx = d
        out = .allocate(capacity: 1 << 20)
        try frame.withUnsafeBytes { try decompress($0) }
    }

    private func emitPlain(_ piece: UnsafeRawBufferPointer) throws {
        let all = piece.bindMemory(to: UInt8.self)
        for start in stride(from: 0, to: all.count, by: 1 << 20) {
            try emit(UnsafeBufferPointer(rebasing: all[start..<min(all.count, start + (1 << 20))]))
        }
    }

    private func decompress(_ piece: UnsafeRawBufferPointer) throws {
        guard let dctx, let out, piece.count > 0 else { return }
        guard !frameDone else { throw damaged("is followed by stray bytes") }
        var input = ZSTD_inBuffer(src: piece.baseAddress, size: piece.count, pos: 0)
        while true {
            var output = ZSTD_outBuffer(dst: out.baseAddress, size: out.count, pos: 0)
            let left = ZSTD_decompressStream(dctx, &output, &input)
            guard ZSTD_isError(left) == 0 else { throw damaged("does not decode: \(String(cString: ZSTD_getErrorName(left)))") }
            total += UInt64(output.pos)
            guard total <= claimed else { throw damaged("holds more than the \(claimed) bytes it claims") }
            if output.pos > 0 { try emit(UnsafeBufferPointer(rebasing: out[0..<output.pos])) }
            if left == 0 {   // the frame is complete (and its checksum checked)
                frameDone = true
                guard input.pos == input.size else { throw damaged("is followed by \(input.size - input.pos) stray bytes") }
                return
            }
            // All input taken and the output not full: zstd needs the next piece.
            if input.pos == input.size && output.pos < output.size { return }
        }
    }
}

/// Splits manifest JSON, fed in pieces, into its chunk lists (`files[].chunks[]`, decoded a
/// batch of entries at a time) and the rest (the "skeleton": the manifest with those lists
/// emptied, decoded by `finish`). It tracks only what it must to find the lists: strings and
/// their escapes, nesting, and the keys of the root object and of the file objects; whether
/// the JSON is valid is left to `JSONDecoder`, which reads every byte of both parts.
struct ManifestScanner {
    private let what: String
    private var skeleton = Data()
    /// Per file object, its chunk list once the scanner met it (nil: the skeleton holds it).
    private var fileChunks: [[ChunkRef]?] = []
    /// `[` and the chunk entries captured since the last flush, comma-separated.
    private var batch = Data("[".utf8)
    private var batchCount = 0
    static let batchSize = 2048

    /// Open containers, `{` or `[`, outermost first.
    private var stack: [UInt8] = []
    private var inString = false, escaped = false
    /// The object on top expects a key next; a string there is collected into `key`.
    private var expectKey = false, collectingKey = false
    private var key: [UInt8] = []
    private var rootKeyIsFiles = false, fileKeyIsChunks = false, inFiles = false
    /// Where bytes go: the skeleton, nowhere (between chunk entries), or the batch (in an entry).
    private enum Mode { case skeleton, gap, entry }
    private var mode = Mode.skeleton

    /// Whether chunk entries are decoded (else only counted, `chunkCounts`, and not checked).
    private let keepChunks: Bool
    /// Per file object, how many chunk entries its list has (counted when not kept).
    private(set) var chunkCounts: [Int] = []

    /// When set, decoded entries go here a batch at a time (with their file's index) instead
    /// of into the manifest.
    private let visit: ((Int, [ChunkRef]) throws -> Void)?
    init(what: String, keepChunks: Bool = true, visit: ((Int, [ChunkRef]) throws -> Void)? = nil) {
        self.what = what; self.keepChunks = keepChunks; self.visit = visit
    }

    private static let quote = UInt8(ascii: "\""), backslash = UInt8(ascii: "\\")
    private static let openBrace = UInt8(ascii: "{"), closeBrace = UInt8(ascii: "}")
    private static let openBracket = UInt8(ascii: "["), closeBracket = UInt8(ascii: "]")
    private static let colon = UInt8(ascii: ":"), comma = UInt8(ascii: ",")
    private static let files = Array("files".utf8), chunks = Array("chunks".utf8)

    private func malformed(_ why: String) -> VaultError {
        VaultError(.corrupt, "\(what) is not valid pgvault JSON (\(why)); the vault may be damaged or written by a newer pgvault.",
                   location: what)
    }

    mutating func feed(_ p: UnsafeBufferPointer<UInt8>) throws {
        var runStart = 0
        var i = 0
        let n = p.count
        while i < n {
            let b = p[i]
            if inString {
                if !escaped && !collectingKey {
                    // The bulk of a manifest: hex ids. Skip to the next quote or backslash.
                    while i < n && p[i] != Self.quote && p[i] != Self.backslash { i += 1 }
                    if i == n { break }
                }
                let b = p[i]
                if escaped { escaped = false }
                else if b == Self.backslash { escaped = true }
                else if b == Self.quote { inString = false; collectingKey = false }
                else if collectingKey && key.count <= 8 { key.append(b) }
                i += 1
                continue
            }
            if mode == .gap {
                // Between the entries of a chunk list: only objects, commas and blanks.
                switch b {
                case Self.comma, 0x20, 0x0A, 0x0D, 0x09: i += 1; continue
                case Self.openBrace, Self.closeBracket: break
                default: throw malformed("an entry of a chunk list is not an object")
                }
            }
            switch b {
            case Self.quote:
                inString = true
                if expectKey && stack.last == Self.openBrace { collectingKey = true; key.removeAll(keepingCapacity: true) }
            case Self.colon:
                guard stack.last == Self.openBrace else { break }
                expectKey = false
                if stack.count == 1 { rootKeyIsFiles = key == Self.files }
                else if stack.count == 3 && inFiles { fileKeyIsChunks = key == Self.chunks }
            case Self.comma:
                if stack.last == Self.openBrace { expectKey = true }
            case Self.openBrace, Self.openBracket:
                let depth = stack.count
                if mode == .gap {
                    if keepChunks && batchCount > 0 { batch.append(Self.comma) }
                    mode = .entry
                    runStart = i
                } else if depth == 1 && b == Self.openBracket && rootKeyIsFiles {
                    inFiles = true
                } else if depth == 2 && inFiles && b == Self.openBrace {
                    fileChunks.append(nil)
                    chunkCounts.append(0)
                    fileKeyIsChunks = false
                } else if depth == 3 && inFiles && b == Self.openBracket && fileKeyIsChunks {
                    // The list's `[` stays in the skeleton; its entries go to the batch.
                    skeleton.append(UnsafeBufferPointer(rebasing: p[runStart...i]))
                    fileChunks[fileChunks.count - 1] = []
                    mode = .gap
                    runStart = i + 1
                }
                stack.append(b)
                expectKey = b == Self.openBrace
            case Self.closeBrace, Self.closeBracket:
                guard let open = stack.popLast(), open == (b == Self.closeBrace ? Self.openBrace : Self.openBracket) else {
                    throw malformed("a `\(Character(UnicodeScalar(b)))` closes nothing it opened")
                }
                let depth = stack.count
                if mode == .entry && depth == 4 {
                    chunkCounts[chunkCounts.count - 1] += 1
                    if keepChunks {
                        batch.append(UnsafeBufferPointer(rebasing: p[runStart...i]))
                        batchCount += 1
                        if batchCount == Self.batchSize { try flush() }
                    }
                    mode = .gap
                    runStart = i + 1
                } else if mode == .gap && depth == 3 {
                    try flush()
                    mode = .skeleton
                    runStart = i   // the list's `]` goes to the skeleton
                } else if depth == 1 && inFiles {
                    inFiles = false
                }
            default:
                break
            }
            i += 1
        }
        switch mode {
        case .skeleton: skeleton.append(UnsafeBufferPointer(rebasing: p[runStart..<n]))
        case .entry: if keepChunks { batch.append(UnsafeBufferPointer(rebasing: p[runStart..<n])) }
        case .gap: break
        }
    }

    private mutating func flush() throws {
        guard batchCount > 0 else { return }
        batch.append(Self.closeBracket)
        let decoded = try VaultJSON.decode([ChunkRef].self, from: batch, what: what)
        batch = Data("[".utf8)
        batchCount = 0
        if let visit { return try visit(fileChunks.count - 1, decoded) }
        fileChunks[fileChunks.count - 1]?.append(contentsOf: decoded)
    }

    /// The manifest, once every piece was fed.
    mutating func finish() throws -> Manifest {
        guard stack.isEmpty, !inString, mode == .skeleton else { throw malformed("it ends inside a value") }
        var manifest = try VaultJSON.decode(Manifest.self, from: skeleton, what: what)
        guard manifest.files.count == fileChunks.count else {
            throw malformed("\(manifest.files.count) files, \(fileChunks.count) chunk lists")
        }
        for k in manifest.files.indices { if let list = fileChunks[k] { manifest.files[k].chunks = list } }
        fileChunks = []
        return manifest
    }
}

extension ManifestCodec {
    /// The bytes to store for `manifest` in a vault of format `format`, and the SHA-256 of its
    /// JSON, written without building the JSON whole: the manifest without its chunk lists is
    /// encoded as usual (pretty-printed, sorted keys), and each chunk list is written into it
    /// one entry a line (`ManifestJSONWriter`), straight into a streaming zstd compressor. The
    /// JSON is written twice, once to count its bytes (the zstd frame header carries the
    /// content size, which readers require) and once to compress it.
    public static func encode(_ manifest: Manifest, format: Int) throws -> (stored: Data, sha256: String) {
        var stored = Data()
        let sha256 = try encode(manifest, format: format) { stored.append(contentsOf: $0) }
        return (stored, sha256)
    }

    /// `encode`, handing the bytes to store to `emit` as they are made (a 1 TiB point's
    /// manifest is ~400 MB stored: `Vault.commit` streams it into `Storage.put(_:mode:write:)`).
    /// Returns the SHA-256 of the JSON. The first error `emit` throws stops it and is rethrown.
    public static func encode(_ manifest: Manifest, format: Int, emit: (UnsafeRawBufferPointer) throws -> Void) throws -> String {
        let writer = try ManifestJSONWriter(manifest)
        var hash = SHA256()
        guard format >= 3 else {
            try writer.write { piece in hash.update(bufferPointer: piece); try emit(piece) }
            return Hex.encode(hash.finalize())
        }
        var size: UInt64 = 0
        try writer.write { size += UInt64($0.count) }
        try compress(size: size, what: "the manifest of point \(manifest.id)", write: { pump in
            try writer.write { piece in hash.update(bufferPointer: piece); try pump(piece) }
        }, emit: emit)
        return Hex.encode(hash.finalize())
    }
}

/// Writes a manifest's JSON in pieces: the manifest without its chunk lists as `VaultJSON`
/// encodes it (pretty-printed, sorted keys), with each file's `"chunks" : [ ]` filled in, one
/// chunk entry a line (compact JSON, sorted keys), written here field by field.
struct ManifestJSONWriter {
    private let skeleton: Data
    /// For each file, where its empty chunk list's inside starts and ends in `skeleton`, and
    /// the indentation of the line that opens it.
    private let lists: [(from: Int, to: Int, indent: Int)]
    private let files: [[ChunkRef]]

    init(_ manifest: Manifest) throws {
        skeleton = try VaultJSON.encode(Vault.summary(of: manifest))
        files = manifest.files.map(\.chunks)
        // `"chunks" : [` appears only as a file's key: no other key of a manifest is "chunks"
        // with an array value, and inside a JSON string the quotes would be escaped.
        let pattern = Array(#""chunks" : ["#.utf8)
        var found: [(Int, Int, Int)] = []
        skeleton.withUnsafeBytes { raw in
            let b = raw.bindMemory(to: UInt8.self)
            var i = 0
            while i + pattern.count <= b.count {
                guard b[i] == pattern[0], pattern.indices.allSatisfy({ b[i + $0] == pattern[$0] }) else { i += 1; continue }
                let from = i + pattern.count
                var to = from
                while to < b.count && b[to] != UInt8(ascii: "]") { to += 1 }
                var lineStart = i
                while lineStart > 0 && b[lineStart - 1] != UInt8(ascii: "\n") { lineStart -= 1 }
                found.append((from, to, i - lineStart))
                i = to
            }
        }
        guard found.count == files.count else {
            throw VaultError(.internalError, "writing the manifest of point \(manifest.id): \(found.count) chunk lists for \(files.count) files. This is a bug in pgvault; please report it.")
        }
        lists = found.map { (from: $0.0, to: $0.1, indent: $0.2) }
    }

    /// Calls `emit` with the JSON in order, in pieces of up to ~1 MiB.
    func write(_ emit: (UnsafeRawBufferPointer) throws -> Void) throws {
        var buffer: [UInt8] = []
        buffer.reserveCapacity(1 << 20 + 4096)
        func drain(_ force: Bool) throws {
            guard force || buffer.count >= 1 << 20 else { return }
            try buffer.withUnsafeBytes { try emit($0) }
            buffer.removeAll(keepingCapacity: true)
        }
        try skeleton.withUnsafeBytes { raw in
            let b = raw.bindMemory(to: UInt8.self)
            var at = 0
            for (k, list) in lists.enumerated() {
                buffer.append(contentsOf: UnsafeBufferPointer(rebasing: b[at..<list.from]))
                at = list.from
                let refs = files[k]
                guard !refs.isEmpty else { continue }   // the skeleton's empty list stays as it is
                for (j, ref) in refs.enumerated() {
                    buffer.append(UInt8(ascii: "\n"))
                    buffer.append(contentsOf: repeatElement(UInt8(ascii: " "), count: list.indent + 2))
                    Self.append(ref, to: &buffer)
                    if j < refs.count - 1 { buffer.append(UInt8(ascii: ",")) }
                    try drain(false)
                }
                buffer.append(UInt8(ascii: "\n"))
                buffer.append(contentsOf: repeatElement(UInt8(ascii: " "), count: list.indent))
                at = list.to
            }
            buffer.append(contentsOf: UnsafeBufferPointer(rebasing: b[at..<b.count]))
        }
        try drain(true)
    }

    /// `ref` as compact JSON with sorted keys, nil fields left out (what `JSONEncoder` writes).
    static func append(_ ref: ChunkRef, to out: inout [UInt8]) {
        var first = true
        func key(_ k: StaticString) {
            out.append(first ? UInt8(ascii: "{") : UInt8(ascii: ","))
            first = false
            out.append(UInt8(ascii: "\""))
            k.withUTF8Buffer { out.append(contentsOf: $0) }
            out.append(contentsOf: [UInt8(ascii: "\""), UInt8(ascii: ":")])
        }
        func int(_ v: Int) { out.append(contentsOf: String(v).utf8) }
        if let base = ref.base { key("base"); appendString(base, to: &out) }
        if let chain = ref.chain {
            key("chain")
            out.append(UInt8(ascii: "["))
            for (i, id) in chain.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                appendString(id, to: &out)
            }
            out.append(UInt8(ascii: "]"))
        }
        if let cut = ref.cut { key("cut"); appendString(cut, to: &out) }
        if let head = ref.head { key("head"); appendString(head, to: &out) }
        key("id"); appendString(ref.id, to: &out)
        if let levels = ref.levels { key("levels"); int(levels) }
        key("size"); int(ref.size)
        if let sketch = ref.sketch { key("sketch"); appendString(sketch, to: &out) }
        out.append(UInt8(ascii: "}"))
    }

    /// A JSON string: `"`, `\` and control characters escaped, everything else as its UTF-8.
    static func appendString(_ s: String, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        for c in s.utf8 {
            switch c {
            case UInt8(ascii: "\""): out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\"")])
            case UInt8(ascii: "\\"): out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\\")])
            case 0x0A: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "n")])
            case 0x0D: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "r")])
            case 0x09: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "t")])
            case 0..<0x20:
                out.append(contentsOf: Array("\\u00".utf8))
                out.append(contentsOf: Array(String(format: "%02x", c).utf8))
            default: out.append(c)
            }
        }
        out.append(UInt8(ascii: "\""))
    }
}
