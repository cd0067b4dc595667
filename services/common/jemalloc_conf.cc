// jemalloc's options for the processes that link it (services/CMakeLists.txt),
// read once, at the first allocation; MALLOC_CONF in the environment is read
// after them and wins (MALLOC_CONF=thp:default undoes this).
//
// thp:always: jemalloc asks for transparent huge pages (madvise) on the
// memory it maps. The query service's read models are a large heap walked at
// random: at a million scope nodes a decision's chain, rules and
// reservations sit on pages far apart, and with 4 KiB pages most of their
// loads also miss the TLB (in a virtual machine, a two-level page walk).
// memory-bench at 1,000,000 nodes: in-process decision 7.5 -> 4.9 us
// (bench/README.md, "Huge pages"). It costs resident memory: ledger-query
// holding 110,134 scope nodes takes 382 MB once ready instead of 285 MB.
// The kernel's own setting stays `madvise`, so nothing else in the process
// changes.
// metadata_thp:auto: the same for jemalloc's own metadata once it grows.
extern "C" {
const char* malloc_conf = "thp:always,metadata_thp:auto";
}
