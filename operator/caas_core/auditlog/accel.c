/* The audit verifier's fast path in C: accel.py is its Python face, fastpath.check_entries and
 * merkle.Frontier.extend are its definition (tests/unit/auditlog/test_accel.py checks that the
 * two give the same answers). Compiled with cffi by hack/build_audit_accelerator.py.
 *
 * Lines are one buffer (the batch joined) and their lengths, so no Python object is touched per
 * entry. Offsets are those of export.py's fixed entry layout:
 *   {"type":"entry","hash":"<64 hex>","entry":{"v":1,"prev":"<64 hex>","seq":N,"log":...}}\n
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <openssl/sha.h>

#define HASH_AT 24  /* export.HASH_AT: the stored leaf hash, 64 lowercase hex digits */
#define BODY_AT 98  /* export.BODY_AT: the canonical entry, up to the line's last 2 bytes */
#define PREV_AT 113 /* export.PREV_AT: the entry's prev, 64 hex digits */
#define SEQ_AT 185  /* export.SEQ_AT: the seq's digits, then the template's suffix */

static const char V1[] = "\",\"entry\":{\"v\":1,\"prev\":\""; /* fastpath._V1 */
static const char SEQ[] = "\",\"seq\":";                    /* fastpath._SEQ */
static const char END[] = "}}\n";
static const char HEX[] = "0123456789abcdef";

/* Lowercase hex of a 32-byte digest equals the 64 bytes at `hex` (binascii.hexlify, compared). */
static int hex_equals(const unsigned char *digest, const unsigned char *hex) {
    unsigned diff = 0;
    for (int i = 0; i < 32; i++) {
        diff |= (unsigned)(hex[2 * i] ^ (unsigned char)HEX[digest[i] >> 4]);
        diff |= (unsigned)(hex[2 * i + 1] ^ (unsigned char)HEX[digest[i] & 15]);
    }
    return diff == 0;
}

/* `%d` of a non-negative seq: its decimal digits, no leading zeros; returns their count. */
static size_t decimal(uint64_t value, char *out) {
    char tmp[24];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + value % 10);
        value /= 10;
    } while (value);
    for (size_t i = 0; i < n; i++) {
        out[i] = tmp[n - 1 - i];
    }
    return n;
}

/* How many lines from the first start with export.ENTRY_PREFIX: the run the fast path takes. */
size_t caas_entry_run(const unsigned char *buf, const int64_t *lens, size_t n) {
    static const char PREFIX[] = "{\"type\":\"entry\",\"hash\":\"";
    for (size_t i = 0; i < n; buf += lens[i], i++) {
        if (lens[i] < (int64_t)sizeof PREFIX - 1 || memcmp(buf, PREFIX, sizeof PREFIX - 1) != 0) {
            return i;
        }
    }
    return n;
}

int caas_check_entries(const unsigned char *buf, const int64_t *lens, size_t n, uint64_t seq,
                       const unsigned char *prev, size_t prev_len, const unsigned char *suffix,
                       size_t suffix_len, unsigned char *leaves) {
    static const unsigned char zero = 0;
    const unsigned char *line = buf, *before = NULL;
    char digits[24];
    SHA256_CTX ctx;
    if (prev_len != 64) {
        return 0; /* prevs[0] is 64 bytes: it cannot equal a prev of another length */
    }
    for (size_t i = 0; i < n; i++, seq++) {
        if (lens[i] < 0) {
            return 0;
        }
        size_t len = (size_t)lens[i], width = decimal(seq, digits);
        /* Every fixed part, the seq and its suffix, then "}}\n" after them: shorter lines fail
         * one of fastpath's slice comparisons (the suffix holds no newline, accel.py checks). */
        if (len < SEQ_AT + width + suffix_len + 3
            || memcmp(line + HASH_AT + 64, V1, sizeof V1 - 1) != 0
            || memcmp(line + PREV_AT + 64, SEQ, sizeof SEQ - 1) != 0
            || memcmp(line + len - 3, END, 3) != 0
            || memcmp(line + SEQ_AT, digits, width) != 0
            || memcmp(line + SEQ_AT + width, suffix, suffix_len) != 0
            || memcmp(line + PREV_AT, before ? before + HASH_AT : prev, 64) != 0) {
            return 0;
        }
        unsigned char *leaf = leaves + 32 * i;
        SHA256_Init(&ctx);
        SHA256_Update(&ctx, &zero, 1); /* RFC 9162 leaf: SHA-256(0x00 || entry) */
        SHA256_Update(&ctx, line + BODY_AT, len - 2 - BODY_AT);
        SHA256_Final(leaf, &ctx);
        if (!hex_equals(leaf, line + HASH_AT)) {
            return 0;
        }
        before = line;
        line += len;
    }
    return 1;
}

/* Frontier.append for each leaf: `hashes` holds popcount(*size) subtree roots, largest first,
 * room for 64; returns how many it holds after. */
int caas_frontier_extend(unsigned char *hashes, uint64_t *size, const unsigned char *leaves,
                         size_t n) {
    static const unsigned char one = 1;
    uint64_t total = *size;
    int count = __builtin_popcountll(total);
    unsigned char node[32];
    SHA256_CTX ctx;
    for (size_t i = 0; i < n; i++) {
        memcpy(node, leaves + 32 * i, 32);
        for (uint64_t s = total; s & 1; s >>= 1) { /* RFC 9162 node: SHA-256(0x01 || l || r) */
            count--;
            SHA256_Init(&ctx);
            SHA256_Update(&ctx, &one, 1);
            SHA256_Update(&ctx, hashes + 32 * count, 32);
            SHA256_Update(&ctx, node, 32);
            SHA256_Final(node, &ctx);
        }
        memcpy(hashes + 32 * count, node, 32);
        count++;
        total++;
    }
    *size = total;
    return count;
}
