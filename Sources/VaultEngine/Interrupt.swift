import Dispatch
import Foundation
import Synchronization

/// SIGINT / SIGTERM handling for long jobs. The first signal sets the flag and terminates the
/// registered children (pg_dump), so a blocked read of their pipe ends; the job then stops
/// without writing a manifest and exits 130. A second signal exits at once.
public final class Interrupt: Sendable {
    public static let shared = Interrupt()
    private let flag = Atomic<Bool>(false)
    private let children = Mutex<[Int32: @Sendable () -> Void]>([:])
    private let sources = Mutex<[any DispatchSourceSignal]>([])
    /// Negative keys for `onInterrupt`, never equal to a pid.
    private let nextToken = Atomic<Int32>(0)

    public var isSet: Bool { flag.load(ordering: .acquiring) }

    /// Installs the handlers (idempotent).
    public func install() {
        sources.withLock { list in
            guard list.isEmpty else { return }
            for sig in [SIGINT, SIGTERM, SIGHUP] {
                signal(sig, SIG_IGN)
                let s = DispatchSource.makeSignalSource(signal: sig, queue: .global())
                s.setEventHandler { [self] in self.trigger(signal: sig) }
                s.resume()
                list.append(s)
            }
        }
    }

    public func trigger(signal sig: Int32) {
        if flag.exchange(true, ordering: .acquiringAndReleasing) {
            // Second signal: give up at once.
            _exit(130)
        }
        let kills = children.withLock { Array($0.values) }
        for k in kills { k() }
        _ = sig
    }

    /// Registers a way to stop a child; returns a token for `unregister`.
    public func register(_ pid: Int32, stop: @escaping @Sendable () -> Void) {
        children.withLock { $0[pid] = stop }
        if isSet { stop() }
    }

    public func unregister(_ pid: Int32) {
        _ = children.withLock { $0.removeValue(forKey: pid) }
    }

    /// Registers an action to run on interrupt that is not a child process (cancelling a
    /// running query); returns the token to pass to `unregister`.
    public func onInterrupt(_ stop: @escaping @Sendable () -> Void) -> Int32 {
        let token = nextToken.wrappingAdd(-1, ordering: .relaxed).newValue
        register(token, stop: stop)
        return token
    }
}
