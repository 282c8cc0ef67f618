/*
 * crypt.c - encryption of the file channel's event payloads (Flume's
 * encryption.* properties): the key file (flumen's stand-in for a Java
 * JCEKS keystore), key check values, and AES-CTR over event encodings with
 * OpenSSL EVP (AES-128-CTR or AES-256-CTR, chosen by the key's length).
 *
 * KEY FILE (encryption.keyProvider.keyStoreFile): text, one key per line,
 *     alias = key
 * where key is 32 or 64 hex digits (16 or 32 bytes), or base64 of 16 or 32
 * bytes.  Blank lines and lines starting with '#' are ignored; spaces around
 * '=' are optional; an alias is 1..128 of [A-Za-z0-9._-]; an alias may
 * appear once.  The file must be a regular file that neither group nor
 * others can access (mode & 077 == 0), else the channel refuses to start.
 * Only the aliases the configuration names (encryption.activeKey and
 * encryption.keyProvider.keys) are loaded; each must be present.
 *
 * What it owns: key material (wiped with OPENSSL_cleanse when freed) and
 * EVP contexts.  Threads: the keyring is loaded on the agent thread at
 * channel init and read-only afterwards; an fc_cctx belongs to one thread at
 * a time (the group-commit leader's, or one transaction's).
 */
#include "channels/file/fc.h"

#include "core/err.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* --------------------------------------------------------------- keys */

/* The plaintext block whose encryption gives the key check value.  A CTR
 * counter block never equals it (that would need a nonce equal to its first
 * 12 bytes), so the KCV reveals no keystream. */
static const uint8_t kcv_block[16] = {'f', 'l', 'u', 'm', 'e', 'n', '-', 'k',
                                      'c', 'v', '-', 'v', '1', 0, 0, 0};

int flm_fc_kcv(const uint8_t *key, uint32_t len, uint8_t out[FC_KCV])
{
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    if (c == NULL)
        return FLM_ERR;
    uint8_t blk[32];
    int n1 = 0, n2 = 0, ok =
        EVP_EncryptInit_ex(c, len == 32 ? EVP_aes_256_ecb() : EVP_aes_128_ecb(), NULL, key, NULL) ==
            1 &&
        EVP_CIPHER_CTX_set_padding(c, 0) == 1 &&
        EVP_EncryptUpdate(c, blk, &n1, kcv_block, sizeof(kcv_block)) == 1 &&
        EVP_EncryptFinal_ex(c, blk + n1, &n2) == 1 && n1 + n2 == 16;
    EVP_CIPHER_CTX_free(c);
    if (!ok)
        return FLM_ERR;
    memcpy(out, blk, FC_KCV);
    OPENSSL_cleanse(blk, sizeof(blk));
    return FLM_OK;
}

int flm_fc_random(uint8_t *out, size_t n)
{
    return RAND_bytes(out, (int)n) == 1 ? FLM_OK : FLM_ERR;
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static int b64val(int c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+' || c == '-')
        return 62;
    if (c == '/' || c == '_')
        return 63;
    return -1;
}

/* Decodes a key written as 32/64 hex digits or base64 of 16/32 bytes.
 * Returns the key length (16 or 32) or 0. */
static uint32_t key_decode(const char *s, size_t n, uint8_t out[32])
{
    bool hex = n == 32 || n == 64;
    for (size_t i = 0; i < n && hex; i++)
        hex = hexval((unsigned char)s[i]) >= 0;
    if (hex) {
        for (size_t i = 0; i < n / 2; i++)
            out[i] = (uint8_t)(hexval((unsigned char)s[2 * i]) << 4 |
                               hexval((unsigned char)s[2 * i + 1]));
        return (uint32_t)(n / 2);
    }
    while (n > 0 && s[n - 1] == '=')
        n--;
    uint8_t tmp[48];
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        int v = b64val((unsigned char)s[i]);
        if (v < 0)
            return 0;
        acc = acc << 6 | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (o == sizeof(tmp))
                return 0;
            tmp[o++] = (uint8_t)(acc >> bits);
        }
        acc &= (1u << bits) - 1;
    }
    if (bits >= 6 || acc != 0 || (o != 16 && o != 32)) {
        OPENSSL_cleanse(tmp, sizeof(tmp));
        return 0;
    }
    memcpy(out, tmp, o);
    OPENSSL_cleanse(tmp, sizeof(tmp));
    return (uint32_t)o;
}

static bool alias_ok(const char *a, size_t n)
{
    if (n == 0 || n > FC_ALIAS_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = a[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return false;
    }
    return true;
}

int flm_fc_keyring_find(const struct fc_keyring *kr, const char *alias)
{
    for (size_t i = 0; i < kr->n; i++)
        if (strcmp(kr->v[i].alias, alias) == 0)
            return (int)i;
    return -1;
}

void flm_fc_keyring_free(struct fc_keyring *kr)
{
    if (kr->v != NULL)
        OPENSSL_cleanse(kr->v, kr->n * sizeof(*kr->v));
    free(kr->v);
    free(kr->path);
    kr->v = NULL;
    kr->path = NULL;
    kr->n = 0;
    kr->active = -1;
}

/* Adds alias (not yet loaded) to kr as a wanted slot with len 0. */
static int want(struct fc_keyring *kr, const char *alias)
{
    if (flm_fc_keyring_find(kr, alias) >= 0)
        return FLM_OK;
    struct fc_key *nv = realloc(kr->v, (kr->n + 1) * sizeof(*nv));
    if (nv == NULL)
        return FLM_ENOMEM;
    kr->v = nv;
    memset(&kr->v[kr->n], 0, sizeof(kr->v[0]));
    snprintf(kr->v[kr->n].alias, sizeof(kr->v[0].alias), "%s", alias);
    kr->n++;
    return FLM_OK;
}

/* Reads the whole file at fd (at most 1 MiB).  malloc'd, NUL-terminated. */
static char *slurp(int fd, size_t *len)
{
    size_t cap = 4096, n = 0;
    char *b = malloc(cap);
    while (b != NULL) {
        if (n + 1 >= cap) {
            if (cap >= (1u << 20)) {
                OPENSSL_cleanse(b, n);
                free(b);
                errno = EFBIG;
                return NULL;
            }
            char *nb = malloc(cap * 2);
            if (nb != NULL)
                memcpy(nb, b, n);
            OPENSSL_cleanse(b, n);
            free(b);
            b = nb;
            cap *= 2;
            continue;
        }
        ssize_t r = read(fd, b + n, cap - 1 - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            int e = errno;
            OPENSSL_cleanse(b, n);
            free(b);
            errno = e;
            return NULL;
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    if (b != NULL) {
        b[n] = '\0';
        *len = n;
    }
    return b;
}

int flm_fc_keyring_load(struct fc_keyring *kr, const char *path, char *const *aliases, size_t n,
                        const char *active, struct flm_err *err)
{
    memset(kr, 0, sizeof(*kr));
    kr->active = -1;
    kr->path = strdup(path);
    if (kr->path == NULL)
        return flm_err_set(err, FLM_ENOMEM, "out of memory");
    int rc = FLM_OK;
    for (size_t i = 0; i < n && rc == FLM_OK; i++)
        rc = want(kr, aliases[i]);
    if (rc == FLM_OK && active != NULL)
        rc = want(kr, active);
    if (rc != FLM_OK) {
        flm_fc_keyring_free(kr);
        return flm_err_set(err, rc, "out of memory");
    }
    for (size_t i = 0; i < kr->n; i++)
        if (!alias_ok(kr->v[i].alias, strlen(kr->v[i].alias))) {
            rc = flm_err_set(err, FLM_ERR,
                             "key alias '%s' is not valid (1..%u of A-Z a-z 0-9 . _ -)",
                             kr->v[i].alias, FC_ALIAS_MAX);
            flm_fc_keyring_free(kr);
            return rc;
        }

    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        rc = flm_err_set(err, FLM_ERR, "encryption.keyProvider.keyStoreFile %s: %s", path,
                         strerror(errno));
        flm_fc_keyring_free(kr);
        return rc;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        rc = flm_err_set(err, FLM_ERR,
                         "encryption.keyProvider.keyStoreFile %s is not a regular file", path);
        flm_fc_keyring_free(kr);
        return rc;
    }
    if ((st.st_mode & 077) != 0) {
        close(fd);
        rc = flm_err_set(err, FLM_ERR,
                         "encryption.keyProvider.keyStoreFile %s is accessible by group or others "
                         "(mode %04o): refusing to use it; run `chmod 600 %s`",
                         path, (unsigned)(st.st_mode & 07777), path);
        flm_fc_keyring_free(kr);
        return rc;
    }
    size_t len = 0;
    char *text = slurp(fd, &len);
    int e = errno;
    close(fd);
    if (text == NULL) {
        rc = flm_err_set(err, FLM_ERR, "cannot read %s: %s", path, strerror(e));
        flm_fc_keyring_free(kr);
        return rc;
    }
    /* Parse line by line; never echo a key value in a message. */
    int line = 0;
    char *p = text;
    while (rc == FLM_OK && *p) {
        line++;
        char *eol = strchr(p, '\n');
        char *next = eol ? eol + 1 : p + strlen(p);
        char *end = eol ? eol : next;
        while (p < end && (*p == ' ' || *p == '\t'))
            p++;
        while (end > p && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r'))
            end--;
        if (p == end || *p == '#') {
            p = next;
            continue;
        }
        char *eq = memchr(p, '=', (size_t)(end - p));
        if (eq == NULL) {
            rc = flm_err_set(err, FLM_ERR, "%s:%d: expected `alias = key`", path, line);
            break;
        }
        char *ae = eq, *v = eq + 1;
        while (ae > p && (ae[-1] == ' ' || ae[-1] == '\t'))
            ae--;
        while (v < end && (*v == ' ' || *v == '\t'))
            v++;
        size_t al = (size_t)(ae - p);
        if (!alias_ok(p, al)) {
            rc = flm_err_set(err, FLM_ERR, "%s:%d: bad key alias (1..%u of A-Z a-z 0-9 . _ -)",
                             path, line, FC_ALIAS_MAX);
            break;
        }
        char alias[FC_ALIAS_MAX + 1];
        memcpy(alias, p, al);
        alias[al] = '\0';
        uint8_t key[32];
        uint32_t kl = key_decode(v, (size_t)(end - v), key);
        if (kl == 0) {
            rc = flm_err_set(err, FLM_ERR,
                             "%s:%d: the key of '%s' is not 32/64 hex digits or base64 of 16/32 "
                             "bytes (AES-128/AES-256)",
                             path, line, alias);
            break;
        }
        int k = flm_fc_keyring_find(kr, alias);
        if (k >= 0 && kr->v[k].len != 0) {
            rc = flm_err_set(err, FLM_ERR, "%s:%d: key alias '%s' appears twice", path, line,
                             alias);
        } else if (k >= 0) {
            memcpy(kr->v[k].key, key, kl);
            kr->v[k].len = kl;
            if (flm_fc_kcv(key, kl, kr->v[k].kcv) != FLM_OK)
                rc = flm_err_set(err, FLM_ERR, "OpenSSL: cannot use the key '%s'", alias);
        }
        OPENSSL_cleanse(key, sizeof(key));
        p = next;
    }
    OPENSSL_cleanse(text, len);
    free(text);
    for (size_t i = 0; i < kr->n && rc == FLM_OK; i++)
        if (kr->v[i].len == 0)
            rc = flm_err_set(err, FLM_ERR,
                             "key alias '%s' (named by encryption.%s) is not in "
                             "encryption.keyProvider.keyStoreFile %s",
                             kr->v[i].alias,
                             active && strcmp(active, kr->v[i].alias) == 0
                                 ? "activeKey"
                                 : "keyProvider.keys",
                             path);
    if (rc != FLM_OK) {
        flm_fc_keyring_free(kr);
        return rc;
    }
    kr->active = active ? flm_fc_keyring_find(kr, active) : -1;
    return FLM_OK;
}

/* ---------------------------------------------------------------- AES-CTR */

void flm_fc_cctx_free(struct fc_cctx *c)
{
    if (c->evp != NULL)
        EVP_CIPHER_CTX_free(c->evp);
    c->evp = NULL;
    c->key = NULL;
}

int flm_fc_ctr_xor(struct fc_cctx *c, const struct fc_key *k, const uint8_t nonce[FC_NONCE],
                   uint64_t off, uint8_t *buf, size_t n)
{
    if ((off >> 4) > UINT32_MAX)
        return FLM_ERR;
    if (c->evp == NULL) {
        c->evp = EVP_CIPHER_CTX_new();
        c->key = NULL;
        if (c->evp == NULL)
            return FLM_ERR;
    }
    uint32_t blk = (uint32_t)(off >> 4);
    uint8_t iv[16];
    memcpy(iv, nonce, FC_NONCE);
    iv[12] = (uint8_t)(blk >> 24), iv[13] = (uint8_t)(blk >> 16);
    iv[14] = (uint8_t)(blk >> 8), iv[15] = (uint8_t)blk;
    int ok;
    if (c->key != k) {
        ok = EVP_EncryptInit_ex(c->evp, k->len == 32 ? EVP_aes_256_ctr() : EVP_aes_128_ctr(), NULL,
                                k->key, iv) == 1;
        c->key = ok ? k : NULL;
    } else {
        ok = EVP_EncryptInit_ex(c->evp, NULL, NULL, NULL, iv) == 1; /* new IV, same key */
    }
    /* Skip to byte off % 16 of the first block. */
    uint8_t skip[16];
    int got = 0;
    if (ok && (off & 15) != 0)
        ok = EVP_EncryptUpdate(c->evp, skip, &got, skip, (int)(off & 15)) == 1;
    while (ok && n > 0) {
        int chunk = n > (1u << 30) ? (1 << 30) : (int)n, out = 0;
        ok = EVP_EncryptUpdate(c->evp, buf, &out, buf, chunk) == 1 && out == chunk;
        buf += chunk;
        n -= (size_t)chunk;
    }
    return ok ? FLM_OK : FLM_ERR;
}

int flm_fc_rec_encrypt(struct fc_cctx *c, const struct fc_key *k, const uint8_t nonce[FC_NONCE],
                       uint8_t *rec, uint64_t off, const struct fc_ptr *puts)
{
    if (fc_get32(rec) != FC_ENC_MAGIC)
        return FLM_OK;
    uint32_t total = fc_get32(rec + 8), nput = fc_get32(rec + 12), ntake = fc_get32(rec + 16);
    size_t from = FC_REC_HDR + (size_t)ntake * FC_TAKE_SIZE, to = from;
    for (uint32_t i = 0; i < nput; i++)
        to += puts[i].len;
    /* One keystream pass over every event of the record: byte x of the
     * file is XORed with keystream byte x, so no keystream byte is used
     * twice in a file.  Then each event's clear words are put back (its
     * length, and its CRC, now over the ciphertext). */
    if (to > total || flm_fc_ctr_xor(c, k, nonce, off + from, rec + from, to - from) != FLM_OK)
        return FLM_ERR;
    uint8_t *e = rec + from;
    for (uint32_t i = 0; i < nput; i++) {
        uint32_t el = puts[i].len;
        fc_put32(e + 4, el);
        fc_put32(e, flm_fc_crc32c(0, e + 4, el - 4));
        e += el;
    }
    fc_put32(rec + 4, flm_fc_crc32c(0, rec + 8, total - 8));
    return FLM_OK;
}
