/* A QEMU TCG plugin that counts the guest's instructions and prints the
 * count each time the guest executes the marker `xchg %bx,%bx` (66 87 db;
 * embctl/tests/net/netprog.c puts one before and after each transfer):
 *
 *   insn-marks: mark N: COUNT instructions ACCESSES memory accesses
 *
 * on QEMU's stderr (or into the file `out=PATH`). bench-net.sh divides the
 * difference between two marks by the MiB moved: guest instructions per
 * MiB, kernel, interrupts and the program together, for any guest kernel.
 * Unlike a time, the host's load hardly moves it (only through how frames
 * batch); an idle guest halts and counts nothing.
 *
 * Built in the build image against its QEMU (no qemu-plugin.h is packaged
 * there, so the few API declarations it uses are below; API version 2, which
 * QEMU 10.0 accepts):
 *   gcc -shared -fPIC -O2 -fvisibility=hidden -o insn-marks.so insn-marks.c
 *   qemu-system-i386 ... -plugin ./insn-marks.so[,out=PATH]
 * The count is added per translation block when the block starts (inline,
 * cheap); a block left early by an interrupt still counts whole. */
#include <inttypes.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* QEMU's plugin API (include/qemu/qemu-plugin.h), the part used here. */
typedef uint64_t qemu_plugin_id_t;
struct qemu_info_t;
struct qemu_plugin_tb;
struct qemu_plugin_insn;
struct qemu_plugin_scoreboard;
typedef struct {
    struct qemu_plugin_scoreboard *score;
    size_t offset;
} qemu_plugin_u64;
enum qemu_plugin_cb_flags { QEMU_PLUGIN_CB_NO_REGS, QEMU_PLUGIN_CB_R_REGS, QEMU_PLUGIN_CB_RW_REGS };
enum qemu_plugin_op { QEMU_PLUGIN_INLINE_ADD_U64, QEMU_PLUGIN_INLINE_STORE_U64 };
enum qemu_plugin_mem_rw { QEMU_PLUGIN_MEM_R = 1, QEMU_PLUGIN_MEM_W, QEMU_PLUGIN_MEM_RW };
typedef void (*qemu_plugin_vcpu_tb_trans_cb_t)(qemu_plugin_id_t id, struct qemu_plugin_tb *tb);
typedef void (*qemu_plugin_vcpu_udata_cb_t)(unsigned int vcpu_index, void *userdata);
void qemu_plugin_register_vcpu_tb_trans_cb(qemu_plugin_id_t id, qemu_plugin_vcpu_tb_trans_cb_t cb);
size_t qemu_plugin_tb_n_insns(const struct qemu_plugin_tb *tb);
struct qemu_plugin_insn *qemu_plugin_tb_get_insn(const struct qemu_plugin_tb *tb, size_t idx);
size_t qemu_plugin_insn_data(const struct qemu_plugin_insn *insn, void *dest, size_t len);
size_t qemu_plugin_insn_size(const struct qemu_plugin_insn *insn);
void qemu_plugin_register_vcpu_insn_exec_cb(struct qemu_plugin_insn *insn, qemu_plugin_vcpu_udata_cb_t cb,
                                            enum qemu_plugin_cb_flags flags, void *userdata);
void qemu_plugin_register_vcpu_tb_exec_inline_per_vcpu(struct qemu_plugin_tb *tb, enum qemu_plugin_op op,
                                                       qemu_plugin_u64 entry, uint64_t imm);
void qemu_plugin_register_vcpu_mem_inline_per_vcpu(struct qemu_plugin_insn *insn, enum qemu_plugin_mem_rw rw,
                                                    enum qemu_plugin_op op, qemu_plugin_u64 entry, uint64_t imm);
struct qemu_plugin_scoreboard *qemu_plugin_scoreboard_new(size_t element_size);
uint64_t qemu_plugin_u64_sum(qemu_plugin_u64 entry);

__attribute__((visibility("default"))) int qemu_plugin_version = 2;

/* Instructions executed and memory accesses made, per vCPU (summed when
 * printed). A string instruction (`rep movs`: copies) counts once however
 * many iterations it runs, but each iteration's accesses count: without
 * them a copy of 64 KiB would cost as little as a copy of 4 bytes. */
static qemu_plugin_u64 executed, accesses;
static FILE *out;
static unsigned marks;
static const unsigned char MARKER[3] = {0x66, 0x87, 0xdb};

static void on_marker(unsigned int vcpu, void *userdata) {
    (void)vcpu;
    (void)userdata;
    /* The leading newline: the guest's console shares the stream and may
     * be in the middle of a line. */
    fprintf(out, "\ninsn-marks: mark %u: %" PRIu64 " instructions %" PRIu64 " memory accesses\n", ++marks,
            qemu_plugin_u64_sum(executed), qemu_plugin_u64_sum(accesses));
    fflush(out);
}

static void on_translate(qemu_plugin_id_t id, struct qemu_plugin_tb *tb) {
    (void)id;
    size_t n = qemu_plugin_tb_n_insns(tb);
    qemu_plugin_register_vcpu_tb_exec_inline_per_vcpu(tb, QEMU_PLUGIN_INLINE_ADD_U64, executed, n);
    for (size_t i = 0; i < n; i++) {
        struct qemu_plugin_insn *insn = qemu_plugin_tb_get_insn(tb, i);
        qemu_plugin_register_vcpu_mem_inline_per_vcpu(insn, QEMU_PLUGIN_MEM_RW, QEMU_PLUGIN_INLINE_ADD_U64, accesses, 1);
        unsigned char bytes[sizeof MARKER];
        if (qemu_plugin_insn_size(insn) == sizeof MARKER && qemu_plugin_insn_data(insn, bytes, sizeof bytes) == sizeof bytes &&
            !memcmp(bytes, MARKER, sizeof MARKER))
            qemu_plugin_register_vcpu_insn_exec_cb(insn, on_marker, QEMU_PLUGIN_CB_NO_REGS, NULL);
    }
}

__attribute__((visibility("default"))) int qemu_plugin_install(qemu_plugin_id_t id, const struct qemu_info_t *info,
                                                               int argc, char **argv) {
    (void)info;
    const char *path = NULL;
    for (int i = 0; i < argc; i++)
        if (!strncmp(argv[i], "out=", 4))
            path = argv[i] + 4;
    out = path ? fopen(path, "w") : stderr;
    if (!out) {
        perror(path);
        return 1;
    }
    executed.score = qemu_plugin_scoreboard_new(2 * sizeof(uint64_t));
    executed.offset = 0;
    accesses.score = executed.score;
    accesses.offset = sizeof(uint64_t);
    qemu_plugin_register_vcpu_tb_trans_cb(id, on_translate);
    return 0;
}
