import Foundation
import Crypto
public import VaultArchive
public import VaultCore
public import VaultFormat
import VaultStorage

public struct RestoreSummary: Sendable {
    public var pointId: String
    public var destination: String
    public var files: [String]
    public var bytes: Int64
    public var job: JobRecord
}

/// Restore-as-files: the point's original files, verified byte by byte against the manifest,
/// plus manifest.json, SHA256SUMS and RESTORE.md, into a sink that never overwrites.
public struct RestoreEngine: Sendable {
    public let vault: Vault
    public let progress: any ProgressSink

    public init(vault: Vault, progress: any ProgressSink = NoProgress()) {
        self.vault = vault
        self.progress = progress
    }

    /// The files of `manifest` a restore of `databases` (all when empty) writes.
    public static func select(_ manifest: Manifest, databases: [String]) throws -> [FileEntry] {
        try selectIndexes(manifest, databases: databases).map { manifest.files[$0] }
    }

    /// The indexes in `manifest.files` of the files `select` picks.
    static func selectIndexes(_ manifest: Manifest, databases: [String]) throws -> [Int] {
        if databases.isEmpty { return Array(manifest.files.indices) }
        let known = Set(manifest.files.compactMap(\.database))
        for d in databases where !known.contains(d) {
            let list = known.sorted().map { "\"\($0)\"" }.joined(separator: ", ")
            throw VaultError(.invalidArgument,
                "Recovery point \(manifest.id) holds no dump of database \"\(d)\". It has: \(list.isEmpty ? "none" : list).",
                location: d)
        }
        let wanted = Set(databases)
        return manifest.files.indices.filter { manifest.files[$0].database == nil || wanted.contains(manifest.files[$0].database ?? "") }
    }

    /// Restores point `id` (an exact id: `Vault.resolvePointId` resolves a reference). The
    /// manifest is read without its chunk lists first (what to write, sizes, hashes), then once
    /// more while the files are written, its chunk entries decoded a batch at a time as they
    /// are needed (`PointChunkStream`): a restore holds a few thousand entries of the list
    /// whatever the point's size.
    public func restore(point id: String, to target: RestoreTarget, databases: [String] = [],
                        jobId: String? = nil, actor: String = Actor.current) throws -> RestoreSummary {
        let key = Vault.pointKey(id)
        let (manifest, counts, _) = try ManifestCodec.decodeSummary(vault.storage, key: key)
        guard manifest.id == id else {
            throw VaultError(.corrupt, "The manifest \(key) names point \(manifest.id), not \(id): it was renamed or replaced. Restore the point from a copy of the vault.",
                             location: key)
        }
        let chosen = try Self.selectIndexes(manifest, databases: databases)
        let files = chosen.map { manifest.files[$0] }
        let started = Timestamp.millis(Date())
        var job = JobRecord(id: jobId ?? "restore-" + Identifier.make(at: started), kind: .restore, startedAt: started)
        job.actor = actor
        job.pointId = manifest.id
        job.server = manifest.server.name
        job.databases = Array(Set(files.compactMap(\.database))).sorted()
        let jobs = JobLog(storage: vault.storage)

        let sink: any RestoreSink
        do { sink = try target.makeSink() }
        catch let e as VaultError {
            job.status = .failed; job.error = e.record; job.finishedAt = Timestamp.millis(Date())
            try? jobs.started(job); try? jobs.finished(job)
            throw e
        }
        job.target = sink.destination
        try jobs.started(job)

        var written: [String] = []
        var sums: [(String, String)] = []
        var total: Int64 = 0
        do {
            let reader = FileReader(storage: vault.storage)
            let decompressor = Decompressor()
            let lists = PointChunkStream(storage: vault.storage, key: key, expected: manifest, counts: counts)
            defer { lists.close() }
            for k in chosen {
                let file = manifest.files[k]
                if Interrupt.shared.isSet {
                    throw VaultError(.interrupted, "The restore was interrupted; partial files were removed.")
                }
                try sink.beginFile(name: file.path, size: file.size)
                try reader.read(file, count: counts[k], feed: lists.feed(file: k),
                                again: { lists.reopened().feed(file: k) },
                                decompressor: decompressor) { data in
                    try data.withUnsafeBytes { try sink.write($0) }
                    progress.report(.bytes(database: file.database ?? file.path, count: data.count))
                }
                try sink.finishFile()
                written.append(file.path)
                sums.append((file.sha256, file.path))
                total += file.size
                progress.report(.file(name: file.path, bytes: file.size))
            }
            try lists.finish()   // the rest of the lists read, and the same as the summary's
            // The manifest as the backup wrote it, streamed: a 1 TiB point's is ~1 GB of JSON.
            try sink.beginFile(name: "manifest.json", size: try ManifestCodec.jsonSize(vault.storage, key: key))
            let hasher = Locked(SHA256())
            try ManifestCodec.readJSON(vault.storage, key: key) { piece in
                hasher.withLock { $0.update(bufferPointer: UnsafeRawBufferPointer(piece)) }
                try sink.write(UnsafeRawBufferPointer(piece))
            }
            try sink.finishFile()
            sums.append((Hex.encode(hasher.get().finalize()), "manifest.json"))
            let sumsText = sums.map { "\($0.0)  \($0.1)\n" }.joined()
            try put(sink, "SHA256SUMS", Data(sumsText.utf8))
            try put(sink, "RESTORE.md", Data(RestoreGuide.markdown(manifest, files: files).utf8))
            written += ["manifest.json", "SHA256SUMS", "RESTORE.md"]
            try sink.finish()
        } catch let e as VaultError {
            sink.abort()
            job.status = e.code == .interrupted ? .interrupted : .failed
            job.error = e.record
            job.finishedAt = Timestamp.millis(Date())
            try? jobs.finished(job)
            throw e
        } catch {
            sink.abort()
            throw error
        }
        job.status = .ok
        job.bytes = total
        job.finishedAt = Timestamp.millis(Date())
        try jobs.finished(job)
        return RestoreSummary(pointId: manifest.id, destination: sink.destination, files: written, bytes: total, job: job)
    }

    /// Writes a small generated file; returns its SHA-256.
    @discardableResult
    private func put(_ sink: any RestoreSink, _ name: String, _ data: Data) throws -> String {
        try sink.beginFile(name: name, size: Int64(data.count))
        try data.withUnsafeBytes { try sink.write($0) }
        try sink.finishFile()
        return data.withUnsafeBytes { ChunkCodec.sha256Hex($0) }
    }
}
