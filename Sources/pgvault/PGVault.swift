import VaultCommands
import CSystemShims

@main
struct Main {
    static func main() {
        // Chunks (up to 8 MiB, and every link of a delta chain) are allocated and freed by the
        // thousand: served from the heap and reused, not mmap'ed and page-faulted in afresh.
        pgv_tune_malloc()
        PGVaultCommand.entry()
    }
}
