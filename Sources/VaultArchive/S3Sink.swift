import Foundation
import VaultCore
import VaultStorage
public import VaultS3

/// Restores into an S3 prefix (`s3://bucket/prefix`), one object per file, outside any vault.
///
/// The bucket must exist (a PUT into a missing bucket may silently create it, without Object
/// Lock, on some servers) and the prefix must be empty: both are checked up front. Each file is
/// buffered up to one part (`partSize`, 8 MiB): a file that fits is one create-only PUT
/// (`If-None-Match: *`) made in `finishFile`, after the restore verified its SHA-256; a larger
/// file goes up as a multipart upload whose parts are sent as they fill, and which becomes
/// visible only when `finishFile` completes it (create-only as well). Nothing is ever
/// overwritten; `abort()` aborts the upload in progress, objects already finished stay (like
/// the directory sink: SHA256SUMS and RESTORE.md, written last, are then missing).
public final class S3Sink: RestoreSink {
    public let storage: S3Storage
    public let partSize: Int
    private var current: Current?
    private var state: State = .open
    private var names: Set<String> = []

    private struct Current {
        var name: String
        var size: Int64
        var written: Int64
        var buffer: Data
        var upload: S3Upload?
    }
    private enum State { case open, finished, aborted }

    /// Checks that the bucket exists and the prefix is empty (`.targetExists` otherwise).
    public init(storage: S3Storage, partSize: Int = 8 << 20) throws {
        self.storage = storage
        self.partSize = max(partSize, 5 << 20)
        if try storage.probeBucket() == .missing { throw storage.missingBucketError() }
        guard try storage.prefixIsEmpty() else {
            throw VaultError(.targetExists,
                "\(destination) is not empty: restore never overwrites; choose a new or empty prefix",
                location: destination)
        }
    }

    deinit { abort() }

    public var destination: String {
        S3Location(bucket: storage.bucket, prefix: storage.prefix).description
    }

    private func display(_ name: String) -> String { destination + "/" + name }

    public func beginFile(name: String, size: Int64) throws {
        guard state == .open, current == nil else {
            let e = SinkMisuse.error("beginFile(\(name)) out of order", location: display(name)); abort(); throw e
        }
        do { try FS.validate(name: name) } catch { abort(); throw error }
        guard size >= 0 else {
            let e = SinkMisuse.error("negative size \(size) for \(name)", location: display(name)); abort(); throw e
        }
        guard !names.contains(name) else {
            throw VaultError(.targetExists, "\(display(name)) was already written by this restore; restore never overwrites.",
                             location: display(name))
        }
        var buffer = Data()
        buffer.reserveCapacity(Int(min(size, Int64(partSize))))
        current = Current(name: name, size: size, written: 0, buffer: buffer, upload: nil)
    }

    public func write(_ bytes: UnsafeRawBufferPointer) throws {
        guard var c = current else {
            let e = SinkMisuse.error("write without beginFile", location: destination); abort(); throw e
        }
        guard Int64(bytes.count) <= c.size - c.written else {
            let e = SinkMisuse.error("\(c.name) is announced as \(c.size) bytes but more were written", location: display(c.name))
            abort(); throw e
        }
        var offset = 0
        while offset < bytes.count {
            if c.buffer.count == partSize {
                // A full part and more bytes coming: send it (the last part is sent by finishFile).
                if c.upload == nil { c.upload = try storage.startUpload(key: c.name) }
                current = c   // so that abort() sees the upload
                try c.upload?.upload(c.buffer)
                c.buffer.removeAll(keepingCapacity: true)
            }
            let n = min(partSize - c.buffer.count, bytes.count - offset)
            c.buffer.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + n)]))
            offset += n
        }
        c.written += Int64(bytes.count)
        current = c
    }

    public func finishFile() throws {
        guard let c = current else {
            let e = SinkMisuse.error("finishFile without beginFile", location: destination); abort(); throw e
        }
        guard c.written == c.size else {
            let e = SinkMisuse.error("\(c.name) is announced as \(c.size) bytes but only \(c.written) were written",
                                     location: display(c.name))
            abort(); throw e
        }
        if let upload = c.upload {
            if !c.buffer.isEmpty { try upload.upload(c.buffer) }
            try upload.complete(createOnly: true)
        } else {
            do { try storage.put(c.name, c.buffer, mode: .createOnly) }
            catch let e as VaultError where e.code == .objectExists {
                throw VaultError(.targetExists, "\(display(c.name)) already exists: restore never overwrites.",
                                 cause: e.cause, location: display(c.name))
            }
        }
        current = nil
        names.insert(c.name)
    }

    public func finish() throws {
        guard state == .open, current == nil else {
            let e = SinkMisuse.error("finish out of order", location: destination); abort(); throw e
        }
        state = .finished
    }

    public func abort() {
        guard state == .open else { return }
        state = .aborted
        current?.upload?.abort()
        current = nil
    }
}
