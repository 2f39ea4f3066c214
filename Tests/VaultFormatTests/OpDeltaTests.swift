import CSystemShims
import Foundation
import Testing
import VaultCore
import VaultFormat
import VaultStorage

/// Codec 4 (op deltas, `pgv_delta.h`): the engine itself (hand-made op streams, applied flat
/// and composed over segment lists), the encoder, and chains read back through the composer.
@Suite("Op deltas (codec 4)")
struct OpDeltaTests {
    // MARK: hand-made op streams

    private struct Op { var lit: [UInt8]; var match: Int; var src: Int }   // src in [0, R + L)

    private func varint(_ v: UInt64, _ out: inout [UInt8]) {
        var v = v
        while v >= 0x80 { out.append(UInt8(v & 0x7f) | 0x80); v >>= 7 }
        out.append(UInt8(v))
    }

    /// The op stream and literals of `ops` (pgv_delta.h's layout, written independently here).
    private func stream(_ ops: [Op]) -> (ops: [UInt8], lits: [UInt8]) {
        var head: [UInt8] = [], ll: [UInt8] = [], ml: [UInt8] = [], dl: [UInt8] = [], lits: [UInt8] = []
        varint(UInt64(ops.count), &head)
        var next = 0
        for o in ops {
            lits += o.lit
            varint(UInt64(o.lit.count), &ll)
            varint(UInt64(o.match), &ml)
            if o.match > 0 {
                let d = o.src - (next + o.lit.count)
                varint(d < 0 ? (UInt64(-(d + 1)) << 1) | 1 : UInt64(d) << 1, &dl)
                next = o.src + o.match
            } else {
                varint(0, &dl)
            }
        }
        return (head + ll + ml + dl, lits)
    }

    /// What `ops` make over `ref`, computed the obvious way (byte by byte).
    private func expected(_ ref: [UInt8], _ ops: [Op]) -> [UInt8] {
        var out: [UInt8] = []
        for o in ops {
            out += o.lit
            for k in 0..<o.match {
                let x = o.src + k
                out.append(x < ref.count ? ref[x] : out[x - ref.count])
            }
        }
        return out
    }

    private func apply(_ ref: [UInt8], _ s: (ops: [UInt8], lits: [UInt8]), length: Int) -> (Int32, [UInt8]) {
        var out = [UInt8](repeating: 0, count: length)
        let rc = ref.withUnsafeBufferPointer { r in
            s.ops.withUnsafeBufferPointer { o in
                s.lits.withUnsafeBufferPointer { l in
                    out.withUnsafeMutableBufferPointer { x in
                        pgv_delta_apply(r.baseAddress, UInt64(r.count), o.baseAddress, o.count, l.baseAddress, l.count,
                                        x.baseAddress, UInt64(length))
                    }
                }
            }
        }
        return (rc, out)
    }

    private func leaf(_ bytes: [UInt8]) -> OpaquePointer {
        let raw = malloc(max(1, bytes.count))!
        bytes.withUnsafeBytes { raw.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
        return pgv_sl_leaf(raw, UInt64(bytes.count), 1)!
    }

    /// Composes `s` over `ref` (a list); returns the new list or the error code.
    private func compose(_ ref: OpaquePointer, _ s: (ops: [UInt8], lits: [UInt8]), length: Int) -> (OpaquePointer?, Int32) {
        let lits = malloc(max(1, s.lits.count))!
        s.lits.withUnsafeBytes { if $0.count > 0 { lits.copyMemory(from: $0.baseAddress!, byteCount: $0.count) } }
        var err: Int32 = 0
        let l = s.ops.withUnsafeBufferPointer { o in
            pgv_sl_compose(ref, o.baseAddress, o.count, lits.assumingMemoryBound(to: UInt8.self), s.lits.count, UInt64(length), &err)
        }
        return (l, err)
    }

    private func bytes(_ l: OpaquePointer) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: Int(pgv_sl_length(l)))
        out.withUnsafeMutableBytes { pgv_sl_materialize(l, $0.baseAddress) }
        return out
    }

    private struct Rng {
        var s: UInt64
        mutating func next(_ n: Int) -> Int {
            s = s &* 6364136223846793005 &+ 1442695040888963407
            return Int((s >> 33) % UInt64(max(1, n)))
        }
    }

    /// Random op lists over a reference of `refCount` bytes: literals, copies from the
    /// reference, copies of earlier output, runs (overlapping copies) and copies across the
    /// reference's end into the output.
    private func randomOps(_ rng: inout Rng, refCount: Int, steps: Int) -> [Op] {
        var ops: [Op] = []
        var length = 0
        for _ in 0..<steps {
            // (a copy needs something before it: with an empty reference, start with a literal)
            let lit = (0..<(rng.next(6) + (refCount == 0 && length == 0 ? 1 : 0))).map { _ in UInt8(rng.next(256)) }
            let pos = length + lit.count
            var match = 1 + rng.next(300)
            var src: Int
            switch rng.next(5) {
            case 0, 1: src = rng.next(refCount)
            case 2 where pos > 0: src = refCount + rng.next(pos)                          // earlier output
            case 3 where pos > 0: src = refCount + pos - 1 - rng.next(min(pos, 3)); match += 40   // a run
            case 4: src = max(0, refCount - 1 - rng.next(20)); match += 30                 // across the end
            default: src = rng.next(refCount)
            }
            if rng.next(8) == 0 { match = 0 }
            ops.append(Op(lit: lit, match: match, src: src))
            length = pos + match
        }
        return ops
    }

    @Test func composingDownAChainGivesWhatApplyingEachLinkGives() throws {
        var rng = Rng(s: 11)
        for trial in 0..<40 {
            let root = (0..<(1 + rng.next(5000))).map { _ in UInt8(rng.next(7) + 97) }
            var flat = root
            var list = leaf(root)
            for depth in 1...12 {
                let ops = randomOps(&rng, refCount: flat.count, steps: 1 + rng.next(60))
                let want = expected(flat, ops)
                let s = stream(ops)
                let (rc, applied) = apply(flat, s, length: want.count)
                #expect(rc == 0 && applied == want, "trial \(trial) depth \(depth): apply")
                let (next, err) = compose(list, s, length: want.count)
                let composed = try #require(next, "trial \(trial) depth \(depth): compose error \(err)")
                #expect(bytes(composed) == want, "trial \(trial) depth \(depth): compose")
                pgv_sl_release(list)   // the composed list keeps what it points into
                list = composed
                flat = want
            }
            #expect(bytes(list) == flat)
            pgv_sl_release(list)
        }
    }

    @Test func severalBasesConcatenateIntoOneReference() throws {
        let a = Array("the quick brown fox ".utf8), b = Array("jumps over the lazy dog".utf8)
        let ops = [Op(lit: [], match: 10, src: 0), Op(lit: Array("!".utf8), match: 15, src: a.count + 3),
                   Op(lit: [], match: 12, src: 15)]   // the last one spans the two bases
        let want = expected(a + b, ops)
        let la = leaf(a), lb = leaf(b)
        let parts: [OpaquePointer?] = [la, lb]
        let joined = try #require(parts.withUnsafeBufferPointer { pgv_sl_concat($0.baseAddress, 2) })
        pgv_sl_release(la); pgv_sl_release(lb)
        let (l, err) = compose(joined, stream(ops), length: want.count)
        pgv_sl_release(joined)
        let list = try #require(l, "error \(err)")
        #expect(bytes(list) == want)
        #expect(String(decoding: bytes(list), as: UTF8.self) == "the quick !ps over the laz fox jumps o")
        pgv_sl_release(list)
    }

    @Test func damagedOpStreamsAreRefusedNotMisread() {
        let ref = Array("0123456789abcdefghij".utf8)
        let good = stream([Op(lit: Array("xy".utf8), match: 8, src: 4)])
        let length = 10
        #expect(apply(ref, good, length: length).0 == 0)
        var cases: [(String, (ops: [UInt8], lits: [UInt8]), Int, Int32)] = []
        cases.append(("cut short", (Array(good.ops.dropLast()), good.lits), length, Int32(PGV_DELTA_BAD_VARINT)))
        cases.append(("a copy past the reference and output", stream([Op(lit: [], match: 5, src: 20)]), 5, Int32(PGV_DELTA_OUT_OF_RANGE)))
        cases.append(("longer than the chunk", good, length - 1, Int32(PGV_DELTA_LENGTH)))
        cases.append(("shorter than the chunk", good, length + 1, Int32(PGV_DELTA_LENGTH)))
        cases.append(("a literal byte too many", (good.ops, good.lits + [0]), length, Int32(PGV_DELTA_LITERALS)))
        cases.append(("literals missing", (good.ops, [good.lits[0]]), length, Int32(PGV_DELTA_LITERALS)))
        cases.append(("a count larger than the stream", ([200] + good.ops.dropFirst(), good.lits), length, Int32(PGV_DELTA_BAD_VARINT)))
        for (what, s, len, code) in cases {
            #expect(apply(ref, s, length: len).0 == code, "apply: \(what)")
            let l = leaf(ref)
            let (out, err) = compose(l, s, length: len)
            #expect(out == nil && err == code, "compose: \(what)")
            pgv_sl_release(l)
            #expect(pgv_delta_error(code) != nil)
        }
    }

    // MARK: the encoder and the codec

    @Test func aChangedChunkEncodesAsAnOpDeltaNoLargerThanAZstdDeltaAndDecodes() throws {
        let base = dumpLike(1_000_000, seed: 41)
        var changed = base
        for i in stride(from: 500, to: changed.count, by: 7919) { changed[i] ^= 0x20 }
        changed.insert(contentsOf: Array("a new row|42|hello\n".utf8), at: 300_000)
        changed.removeSubrange(600_000..<600_400)
        let baseId = base.withUnsafeBytes { ChunkCodec.sha256Hex($0) }
        let id = changed.withUnsafeBytes { ChunkCodec.sha256Hex($0) }
        let c = Compressor(level: 1)
        let zstdDelta = try #require(changed.withUnsafeBytes { c.encodeDelta($0, base: Data(base), baseIds: [baseId], limit: .max) })
        let op = try #require(changed.withUnsafeBytes { c.encodeDelta($0, base: Data(base), baseIds: [baseId], limit: .max, ops: true) })
        #expect(zstdDelta[5] == 2 && op[5] == 4)
        #expect(op.count * 10 < changed.count && Double(op.count) < Double(zstdDelta.count) * 1.15,
                "op delta \(op.count) bytes, zstd delta \(zstdDelta.count)")
        #expect(ChunkCodec.baseIds(of: op) == [baseId])
        let back = try ChunkCodec.decode(op, id: id, expectedSize: changed.count, decompressor: Decompressor(), base: { _ in Data(base) })
        let decoded = Array(back) == changed   // a Bool: #expect would diff the arrays byte by byte
        #expect(decoded)
        // A wrong base is caught (by the hash, or by the ops not fitting it).
        #expect(throws: VaultError.self) {
            _ = try ChunkCodec.decode(op, id: id, expectedSize: nil, decompressor: Decompressor(), base: { _ in Data(dumpLike(900_000, seed: 42)) })
        }
        // Every damaged byte of the stored object is refused, never decoded into other bytes.
        for at in stride(from: ChunkCodec.headerSize + 33, to: op.count, by: max(1, op.count / 50)) {
            var bad = op
            bad[at] ^= 0x41
            #expect(throws: VaultError.self, "byte \(at) of \(op.count)") {
                _ = try ChunkCodec.decode(bad, id: id, expectedSize: nil, decompressor: Decompressor(), base: { _ in Data(base) })
            }
        }
        // Unchanged content is a few bytes of operations.
        let same = try #require(base.withUnsafeBytes { c.encodeDelta($0, base: Data(base), baseIds: [baseId], limit: .max, ops: true) })
        #expect(same[5] == 4 && same.count < 200, "\(same.count) bytes for an unchanged chunk")
    }

    @Test(arguments: [false, true])
    func chainsOfEitherCodecAndMixedChainsReadBackThroughTheComposer(_ opsFirst: Bool) throws {
        // Twelve weekly versions: the first six written with one codec, the rest with the other,
        // so chains switch codec halfway (a vault upgraded to format 4 keeps its codec 2 links).
        var v = dumpLike(300_000, seed: 9)
        var rng = Rng(s: 3)
        var versions: [[UInt8]] = []
        for week in 0..<12 {
            if week > 0 {
                for _ in 0..<60 { v[rng.next(v.count)] = UInt8(65 + rng.next(26)) }
                let at = rng.next(v.count - 200)
                v.removeSubrange(at..<(at + 50 + rng.next(100)))
                v.insert(contentsOf: (0..<(20 + rng.next(200))).map { _ in UInt8(48 + rng.next(10)) }, at: rng.next(v.count))
            }
            versions.append(v)
        }
        let storage = MemoryStorage()
        let written = try writeChain(versions, storage: storage, maxDepth: 16, opDeltas: { ($0 < 6) == opsFirst })
        var codecs: Set<UInt8> = []
        for (week, (entry, _)) in written.enumerated() {
            for ch in entry.chunks where ch.depth > 0 { codecs.insert(try storage.get(ChunkCodec.key(for: ch.id))[5]) }
            var out = Data()
            try FileReader(storage: storage).read(entry) { out.append($0) }
            let same = Array(out) == versions[week]   // Bools: #expect would diff the arrays byte by byte
            #expect(same, "week \(week + 1)")
            // Each chunk alone, through the base cache (as a backup reads its bases).
            let cache = BaseCache(storage: storage)
            var joined = Data()
            for ch in entry.chunks { joined.append(try cache.plaintext(ch.id)) }
            let sameByChunk = Array(joined) == versions[week]
            #expect(sameByChunk, "week \(week + 1), chunk by chunk")
        }
        let previous = written.last?.0
        #expect(codecs.contains(4) && codecs.contains(2), "both codecs were written: \(codecs.sorted())")
        #expect(previous?.chunks.contains { $0.depth >= 10 } == true, "chains reached depth 10 or more")
    }

    @Test func aCopyIntoAFormat3VaultWritesCodec2DeltasItsReadersKnow() throws {
        // A format-4 vault with six chained points of one database.
        let storage = MemoryStorage()
        let src = try Vault.create(storage: storage)
        #expect(src.config.format == 4)
        var v = dumpLike(200_000, seed: 5)
        var rng = Rng(s: 8)
        var versions: [[UInt8]] = []
        for _ in 0..<6 {
            for _ in 0..<40 { v[rng.next(v.count)] = UInt8(65 + rng.next(26)) }
            versions.append(v)
        }
        let written = try writeChain(versions, storage: storage, maxDepth: 16)
        let ids = try commitWeekly(written.map(\.0), to: src, from: Date(timeIntervalSince1970: 1_790_000_000))
        let codecs = { (s: MemoryStorage, entry: FileEntry) throws -> Set<UInt8> in
            Set(try entry.chunks.map { try s.get(ChunkCodec.key(for: $0.id))[5] })
        }
        #expect(try codecs(storage, written[5].0).contains(4))

        // The target: a format-3 vault (as an older pgvault made it).
        let old = MemoryStorage()
        var config = try Vault.create(storage: MemoryStorage()).config
        config.format = 3
        config.id = "vault-00000000000000f3"
        try old.put(Vault.configKey, try VaultJSON.encode(config), mode: .createOnly)
        let dst = try Vault.open(storage: old)
        let report = try VaultCopy.copy(from: src, to: dst, points: [])
        #expect(report.copied.count == 6)
        var all: Set<UInt8> = []
        for (i, (entry, _)) in written.enumerated() {
            all.formUnion(try codecs(old, entry))
            var out = Data()
            try FileReader(storage: old).read(entry) { out.append($0) }
            let same = Array(out) == versions[i]
            #expect(same, "point \(i + 1) reads back from the copy")
        }
        #expect(!all.contains(4) && all.contains(2), "codecs in the format-3 copy: \(all.sorted())")
        // Every chunk a delta in the copy names the bases the manifest lists for it.
        for c in written[5].0.chunks {
            let ids = ChunkCodec.baseIds(of: try old.get(ChunkCodec.key(for: c.id))) ?? []
            #expect(Set(ids).isSubset(of: Set(c.bases)))
        }
        // A format-4 target keeps the op deltas as they are.
        let s4 = MemoryStorage()
        _ = try VaultCopy.copy(from: src, to: try Vault.create(storage: s4), points: [ids[5]])
        #expect(try codecs(s4, written[5].0).contains(4))
    }

    @Test func aChunkMadeOfManyShortMatchesEncodesAndDecodes() throws {
        // 80 KB made of 10-byte pieces of a random base: one zstd sequence per 10 bytes. zstd
        // 1.5.4 does not check the room it is given for sequences; with less than its bound (one
        // per 32 bytes was tried) this test crashed the process. Short copies become literals.
        var rng = Rng(s: 77)
        let base = (0..<65_536).map { _ in UInt8(rng.next(256)) }
        var plain: [UInt8] = []
        while plain.count < 80_000 {
            let at = rng.next(base.count - 10)
            plain += base[at..<(at + 10)]
        }
        let baseId = base.withUnsafeBytes { ChunkCodec.sha256Hex($0) }
        let id = plain.withUnsafeBytes { ChunkCodec.sha256Hex($0) }
        let c = Compressor(level: 1)
        let op = try #require(plain.withUnsafeBytes { c.encodeDelta($0, base: Data(base), baseIds: [baseId], limit: .max, ops: true) })
        #expect(op[5] == 4, "an op delta, not the codec 2 fallback")
        let back = try ChunkCodec.decode(op, id: id, expectedSize: plain.count, decompressor: Decompressor(), base: { _ in Data(base) })
        let same = Array(back) == plain
        #expect(same)
    }
}
