import Foundation

/// A bounded FIFO between one producer thread and one consumer: `put` waits while the queue
/// is full, `take` while it is empty. `close()` wakes both sides: `put` then returns false
/// and `take` returns what is left, then nil. Memory stays bounded by `capacity` items.
public final class BlockingQueue<Element>: @unchecked Sendable {
    private let cond = NSCondition()
    private var items: [Element] = []
    private var closed = false
    private let capacity: Int

    public init(capacity: Int) { self.capacity = max(1, capacity) }

    /// Appends `item`, waiting for room; false when the queue was closed meanwhile.
    @discardableResult
    public func put(_ item: Element) -> Bool {
        cond.lock(); defer { cond.unlock() }
        while items.count >= capacity && !closed { cond.wait() }
        if closed { return false }
        items.append(item)
        cond.broadcast()
        return true
    }

    /// The next item, waiting for one; nil once the queue is closed and empty.
    public func take() -> Element? {
        cond.lock(); defer { cond.unlock() }
        while items.isEmpty && !closed { cond.wait() }
        if items.isEmpty { return nil }
        let item = items.removeFirst()
        cond.broadcast()
        return item
    }

    public func close() {
        cond.lock(); closed = true; cond.broadcast(); cond.unlock()
    }
}
