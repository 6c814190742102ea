/* blkwriter: writes self-describing blocks to a virtio-blk disk, or verifies every one of them. */
#include "rt.h"

#include "vblk.h"
#include "virtio.h"

TWIN_GUEST("blkwriter");

#define BLOCK	    4096u
#define WORDS	    (BLOCK / 8)
#define DEPTH	    32	 /* requests in flight: one notification per batch, not per block */
#define STRIDE	    7919 /* a prime: write order is index = k * STRIDE mod N (seq = k + 1) */
#define MAGIC	    0x314b4c424e495754ull /* "TWINBLK1" */
#define MAX_REPORTS 8
#define WAIT_US	    5000000

/* Block layout, u64 words: magic, seed, seq, index, blocks, payload..., FNV-1a of the rest. */
enum { W_MAGIC, W_SEED, W_SEQ, W_INDEX, W_BLOCKS, W_PAYLOAD };

static uint64_t bufs[DEPTH][WORDS] __attribute__((aligned(4096)));
static int slot_of_tag[VQ_MAX];
static uint64_t slot_k[DEPTH];
static uint64_t nblocks, seed, stride;
/* rate: blocks submitted per second, 0 = as fast as the disk goes; progress: a line each N. */
static uint64_t rate, progress, t_start;
static uint64_t bad;

static uint64_t fnv1a(const void *p, size_t n)
{
	const uint8_t *b = p;
	uint64_t h = 0xcbf29ce484222325ull;

	while (n--)
		h = (h ^ *b++) * 0x100000001b3ull;
	return h;
}

static uint64_t mix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

static uint64_t index_of(uint64_t k)
{
	return k * stride % nblocks;
}

static void fill(uint64_t *w, uint64_t k)
{
	uint64_t idx = index_of(k);

	w[W_MAGIC] = MAGIC;
	w[W_SEED] = seed;
	w[W_SEQ] = k + 1;
	w[W_INDEX] = idx;
	w[W_BLOCKS] = nblocks;
	for (unsigned int j = W_PAYLOAD; j < WORDS - 1; j++)
		w[j] = mix(seed ^ (idx << 20) ^ j);
	w[WORDS - 1] = fnv1a(w, BLOCK - 8);
}

/* Why block k (read back into w) is wrong, or NULL when it is right. */
static const char *check(const uint64_t *w, uint64_t k)
{
	uint64_t idx = index_of(k);

	if (w[WORDS - 1] != fnv1a(w, BLOCK - 8))
		return "checksum";
	if (w[W_MAGIC] != MAGIC)
		return "magic";
	if (w[W_SEED] != seed)
		return "seed";
	if (w[W_INDEX] != idx)
		return "index";
	if (w[W_SEQ] != k + 1)
		return "seq";
	if (w[W_BLOCKS] != nblocks)
		return "blocks";
	for (unsigned int j = W_PAYLOAD; j < WORDS - 1; j++)
		if (w[j] != mix(seed ^ (idx << 20) ^ j))
			return "payload";
	return NULL;
}

/* Paced (rate): block k may go once k / rate seconds have passed since the start. */
static uint64_t due_us(uint64_t k)
{
	return rate ? t_start + k * 1000000 / rate : 0;
}

/* Run every block through the disk with DEPTH requests in flight. */
static int pass(int writing)
{
	uint64_t k = 0, done = 0;
	int free_slots[DEPTH], nfree = DEPTH;

	for (int i = 0; i < DEPTH; i++)
		free_slots[i] = i;
	while (done < nblocks) {
		uint8_t status;
		int tag, reaped = 0;

		while (k < nblocks && nfree && due_us(k) <= clock__us()) {
			int slot = free_slots[nfree - 1];

			if (writing)
				fill(bufs[slot], k);
			tag = vblk__submit(writing ? VBLK_T_OUT : VBLK_T_IN,
					   index_of(k) * (BLOCK / VBLK_SECTOR), bufs[slot], BLOCK);
			if (tag < 0)
				break;
			nfree--;
			slot_of_tag[tag] = slot;
			slot_k[slot] = k++;
		}
		vblk__kick();
		while ((tag = vblk__reap(&status)) >= 0) {
			int slot = slot_of_tag[tag];
			const char *why;

			reaped++;
			done++;
			/* A guest-visible heartbeat: a host can tell how far it got. */
			if (progress && done % progress == 0)
				console__printf("blkwriter: %s=%lu\n", writing ? "written" : "read",
						done);
			free_slots[nfree++] = slot;
			if (status != VBLK_S_OK) {
				console__printf(
				    "blkwriter: request for block %lu failed, status %u\n",
				    index_of(slot_k[slot]), status);
				return -EIO;
			}
			if (!writing && (why = check(bufs[slot], slot_k[slot]))) {
				if (bad++ < MAX_REPORTS)
					console__printf("blkwriter: bad block index=%lu: %s\n",
							index_of(slot_k[slot]), why);
			}
		}
		if (!reaped && nfree == DEPTH && k < nblocks) { /* idle, paced: sleep to k's turn */
			uint64_t now = clock__us();

			if (due_us(k) > now)
				platform__wait_us((uint32_t)(due_us(k) - now));
			continue;
		}
		if (!reaped && vblk__wait(WAIT_US)) {
			console__printf("blkwriter: the disk did not answer in %u us\n", WAIT_US);
			return -ETIMEDOUT;
		}
	}
	return 0;
}

int guest_main(void)
{
	const char *arg = args__get("mode"); /* args__get's buffer is reused: copy */
	char id[VBLK_ID_BYTES + 1] = {0};
	int writing, rc;
	const char *mode;
	uint64_t t0;

	if (!arg || (strcmp(arg, "write") && strcmp(arg, "verify"))) {
		console__printf("blkwriter: give mode=write or mode=verify\n");
		return TWIN_GUEST_EXIT_FAIL;
	}
	writing = !strcmp(arg, "write");
	mode = writing ? "write" : "verify";
	if (args__u64("blocks", 256, &nblocks) || args__u64("seed", 1, &seed) || !nblocks ||
	    args__u64("rate", 0, &rate) || args__u64("progress", 0, &progress)) {
		console__printf("blkwriter: blocks, seed, rate and progress must be numbers, "
				"blocks > 0\n");
		return TWIN_GUEST_EXIT_FAIL;
	}
	stride = nblocks % STRIDE ? STRIDE : 1;
	rc = vblk__init();
	if (rc) {
		console__printf("blkwriter: no virtio-blk disk (%d): attach one with --disk\n", rc);
		return TWIN_GUEST_EXIT_FAIL;
	}
	if (vblk__get_id(id))
		memcpy(id, "?", 2);
	console__printf("blkwriter: disk id=\"%s\" sectors=%lu%s\n", id, vblk__sectors(),
			vblk__read_only() ? " read-only" : "");
	if (nblocks * (BLOCK / VBLK_SECTOR) > vblk__sectors()) {
		console__printf("blkwriter: %lu blocks of %u bytes do not fit the disk\n", nblocks,
				BLOCK);
		return TWIN_GUEST_EXIT_FAIL;
	}
	console__printf("blkwriter: %s blocks=%lu seed=%lu\n", mode, nblocks, seed);
	t_start = t0 = clock__us();
	rc = pass(writing);
	if (!rc && writing)
		rc = vblk__flush();
	if (rc) {
		console__printf("blkwriter: %s FAIL: disk error %d\n", mode, rc);
		return TWIN_GUEST_EXIT_FAIL;
	}
	if (bad) {
		console__printf("blkwriter: verify FAIL blocks=%lu bad=%lu\n", nblocks, bad);
		return TWIN_GUEST_EXIT_FAIL;
	}
	console__printf("blkwriter: %s OK blocks=%lu seed=%lu us=%lu notifies=%lu\n", mode, nblocks,
			seed, clock__us() - t0, vblk__notifies());
	return TWIN_GUEST_EXIT_OK;
}
