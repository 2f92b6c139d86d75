/*
 * storage/warc.c -- WARC records out, one gzip member or zstd frame each,
 * compressed on worker threads and written in order (warc.h).
 *
 * What stays true: jobs are written strictly in the order they were handed
 * over; a record's offset is the file offset of its first job's bytes; after
 * the first failure nothing more is written and every later call fails.
 */
#include "warc.h"

#include "../common/error.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libdeflate.h>
#include <zlib.h>
#include <zstd.h>

#define GZIP_LEVEL 6
#define ZSTD_LEVEL 3
#define ZSTD_WINDOW_LOG 23       /* 8 MiB: what the IIPC proposal lets a reader expect */
#define WHOLE_MAX (4u << 20)     /* records up to this are compressed in one piece */
#define PIECE (1u << 20)         /* larger gzip records: pieces of this much input */
#define DICT (32u << 10)         /* deflate's window: what a piece carries of the bytes before it */
#define INFLIGHT_MAX (16u << 20) /* input bytes handed over and not yet written */
#define THREADS_MAX 16

enum { WHOLE, GZ_PIECE };

typedef struct job {
	struct job *next;
	int kind, first, last, taken, done;
	unsigned char *in, *out;
	size_t in_len, out_len;
	unsigned char *dict; /* GZ_PIECE: the DICT bytes before it (NULL for the first) */
	size_t dict_len;
	uint32_t crc;        /* GZ_PIECE: of its input */
	void *tag;           /* on a record's last job */
	int rc;
} job;

/* What a worker (or the caller, with one thread) compresses with. */
typedef struct {
	struct libdeflate_compressor *ld;
	ZSTD_CCtx *zc;
	z_stream z;
	int z_ready;
} engine;

struct sv_warc_file {
	int fd;
	sv_warc_codec codec;
	sv_warc_written_fn written;
	void *ctx;
	int nthreads;
	pthread_t tids[THREADS_MAX];
	int started;
	engine own; /* the caller's, when there are no workers */
	pthread_mutex_t mu;
	pthread_cond_t work, done;
	job *head, *tail, *todo; /* every job not yet written, in order; todo: the first not taken */
	size_t inflight;
	int stop;
	int err;
	uint64_t offset;     /* bytes written to fd */
	uint64_t rec_offset; /* where the record being written began */
	uint32_t rec_crc;    /* a large gzip record's CRC and length so far */
	uint64_t rec_isize;
	ZSTD_CCtx *big;      /* large zstd records, on zstd's own workers */
	unsigned char *buf;  /* the caller's read buffer */
};

int sv_warc_codec_of(const char *path, sv_warc_codec *out)
{
	size_t n = strlen(path);
	if (n > 8 && !strcmp(path + n - 8, ".warc.gz"))
		*out = SV_WARC_GZIP;
	else if (n > 9 && !strcmp(path + n - 9, ".warc.zst"))
		*out = SV_WARC_ZSTD;
	else
		return sv_error_set(SV_EINVAL, "'%s': a WARC file's name ends in .warc.gz or .warc.zst", path);
	return 0;
}

static int zstd_params(ZSTD_CCtx *c)
{
	return ZSTD_isError(ZSTD_CCtx_setParameter(c, ZSTD_c_compressionLevel, ZSTD_LEVEL)) ||
	       ZSTD_isError(ZSTD_CCtx_setParameter(c, ZSTD_c_checksumFlag, 1)) ||
	       ZSTD_isError(ZSTD_CCtx_setParameter(c, ZSTD_c_contentSizeFlag, 1)) ||
	       ZSTD_isError(ZSTD_CCtx_setParameter(c, ZSTD_c_windowLog, ZSTD_WINDOW_LOG));
}

static int engine_init(engine *e, sv_warc_codec codec)
{
	memset(e, 0, sizeof(*e));
	if (codec == SV_WARC_GZIP) {
		if (!(e->ld = libdeflate_alloc_compressor(GZIP_LEVEL)))
			return -1;
		/* raw deflate for the pieces of a large record */
		if (deflateInit2(&e->z, GZIP_LEVEL, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) != Z_OK)
			return -1;
		e->z_ready = 1;
		return 0;
	}
	return !(e->zc = ZSTD_createCCtx()) || zstd_params(e->zc) ? -1 : 0;
}

static void engine_free(engine *e)
{
	if (e->ld)
		libdeflate_free_compressor(e->ld);
	ZSTD_freeCCtx(e->zc);
	if (e->z_ready)
		deflateEnd(&e->z);
	memset(e, 0, sizeof(*e));
}

/* Compresses one job into j->out. */
static void compress_job(engine *e, sv_warc_codec codec, job *j)
{
	size_t cap;
	if (j->kind == WHOLE && codec == SV_WARC_GZIP) {
		cap = libdeflate_gzip_compress_bound(e->ld, j->in_len);
		if (!(j->out = malloc(cap))) {
			j->rc = sv_error_set(SV_EIO, "out of memory");
			return;
		}
		j->out_len = libdeflate_gzip_compress(e->ld, j->in, j->in_len, j->out, cap);
		if (!j->out_len)
			j->rc = sv_error_set(SV_EIO, "gzip compression failed");
	} else if (j->kind == WHOLE) {
		cap = ZSTD_compressBound(j->in_len);
		if (!(j->out = malloc(cap))) {
			j->rc = sv_error_set(SV_EIO, "out of memory");
			return;
		}
		j->out_len = ZSTD_compress2(e->zc, j->out, cap, j->in, j->in_len);
		if (ZSTD_isError(j->out_len))
			j->rc = sv_error_set(SV_EIO, "zstd compression failed: %s", ZSTD_getErrorName(j->out_len));
	} else {
		/* A piece of one deflate stream: primed with the bytes before it,
		 * ended on a byte boundary (sync flush) unless it is the last. */
		cap = deflateBound(&e->z, j->in_len) + 64;
		if (!(j->out = malloc(cap))) {
			j->rc = sv_error_set(SV_EIO, "out of memory");
			return;
		}
		j->crc = (uint32_t)crc32(0, j->in, (uInt)j->in_len);
		if (deflateReset(&e->z) != Z_OK ||
		    (j->dict && deflateSetDictionary(&e->z, j->dict, (uInt)j->dict_len) != Z_OK)) {
			j->rc = sv_error_set(SV_EIO, "gzip compression failed");
			return;
		}
		e->z.next_in = j->in;
		e->z.avail_in = (uInt)j->in_len;
		e->z.next_out = j->out;
		e->z.avail_out = (uInt)cap;
		int zr = deflate(&e->z, j->last ? Z_FINISH : Z_SYNC_FLUSH);
		if ((j->last ? zr != Z_STREAM_END : zr != Z_OK) || e->z.avail_in)
			j->rc = sv_error_set(SV_EIO, "gzip compression failed");
		j->out_len = cap - e->z.avail_out;
	}
}

static void *worker(void *arg)
{
	sv_warc_file *w = arg;
	engine e;
	int ok = engine_init(&e, w->codec) == 0;
	pthread_mutex_lock(&w->mu);
	for (;;) {
		while (!w->stop && !w->todo)
			pthread_cond_wait(&w->work, &w->mu);
		if (!w->todo)
			break;
		job *j = w->todo;
		j->taken = 1;
		w->todo = j->next;
		pthread_mutex_unlock(&w->mu);
		if (ok)
			compress_job(&e, w->codec, j);
		else
			j->rc = sv_error_set(SV_EIO, "out of memory");
		pthread_mutex_lock(&w->mu);
		j->done = 1;
		pthread_cond_broadcast(&w->done);
	}
	pthread_mutex_unlock(&w->mu);
	engine_free(&e);
	return NULL;
}

static int write_all(sv_warc_file *w, const void *p, size_t n)
{
	size_t done = 0;
	while (done < n) {
		ssize_t k = write(w->fd, (const char *)p + done, n - done);
		if (k < 0) {
			if (errno == EINTR)
				continue;
			return sv_error_errno(errno, "cannot write the WARC file");
		}
		done += (size_t)k;
	}
	w->offset += n;
	return 0;
}

static void put_le32(unsigned char *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

/* Writes a compressed job: a large gzip record's pieces get the member's header and trailer around them. */
static int write_job(sv_warc_file *w, job *j)
{
	int rc = j->rc;
	if (rc == 0 && j->first)
		w->rec_offset = w->offset;
	if (rc == 0 && j->kind == GZ_PIECE) {
		if (j->first) {
			static const unsigned char gz[10] = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3};
			rc = write_all(w, gz, sizeof(gz));
			w->rec_crc = 0;
			w->rec_isize = 0;
		}
		w->rec_crc = (uint32_t)crc32_combine(w->rec_crc, j->crc, (z_off_t)j->in_len);
		w->rec_isize += j->in_len;
	}
	if (rc == 0)
		rc = write_all(w, j->out, j->out_len);
	if (rc == 0 && j->kind == GZ_PIECE && j->last) {
		unsigned char t[8];
		put_le32(t, w->rec_crc);
		put_le32(t + 4, (uint32_t)w->rec_isize);
		rc = write_all(w, t, sizeof(t));
	}
	if (rc == 0 && j->last && w->written && j->tag)
		w->written(w->ctx, j->tag, w->rec_offset, w->offset - w->rec_offset);
	return rc;
}

static void job_free(job *j)
{
	free(j->in);
	free(j->out);
	free(j->dict);
	free(j);
}

/* Writes the jobs done at the head of the line; with all, waits for every one. */
static int drain(sv_warc_file *w, int all, size_t below)
{
	int rc = 0;
	pthread_mutex_lock(&w->mu);
	for (;;) {
		while (w->head && !w->head->done && (all || w->inflight > below))
			pthread_cond_wait(&w->done, &w->mu);
		job *j = w->head;
		if (!j || !j->done)
			break;
		w->head = j->next;
		if (!w->head)
			w->tail = NULL;
		w->inflight -= j->in_len;
		pthread_mutex_unlock(&w->mu);
		if (rc == 0 && w->err == 0)
			rc = write_job(w, j);
		job_free(j);
		pthread_mutex_lock(&w->mu);
	}
	pthread_mutex_unlock(&w->mu);
	if (rc && !w->err)
		w->err = rc;
	return w->err;
}

/* Hands a job over: compressed at once without workers, else queued (waiting while too much is under way). */
static int submit(sv_warc_file *w, job *j)
{
	if (!w->started) {
		compress_job(&w->own, w->codec, j);
		j->done = 1;
		int rc = w->err ? w->err : write_job(w, j);
		job_free(j);
		if (rc && !w->err)
			w->err = rc;
		return w->err;
	}
	int rc = drain(w, 0, INFLIGHT_MAX);
	if (rc) {
		job_free(j);
		return rc;
	}
	pthread_mutex_lock(&w->mu);
	if (w->tail)
		w->tail->next = j;
	else
		w->head = j;
	w->tail = j;
	if (!w->todo)
		w->todo = j;
	w->inflight += j->in_len;
	pthread_cond_signal(&w->work);
	pthread_mutex_unlock(&w->mu);
	return 0;
}

int sv_warc_open(sv_warc_file **out, int fd, sv_warc_codec codec, int threads, sv_warc_written_fn written,
		 void *ctx)
{
	sv_warc_file *w = calloc(1, sizeof(*w));
	*out = NULL;
	if (!w || !(w->buf = malloc(PIECE))) {
		free(w);
		return sv_error_set(SV_EIO, "out of memory");
	}
	w->fd = fd;
	w->codec = codec;
	w->written = written;
	w->ctx = ctx;
	if (threads <= 0) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);
		threads = n > 0 ? (int)n : 1;
	}
	w->nthreads = threads > THREADS_MAX ? THREADS_MAX : threads;
	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->work, NULL);
	pthread_cond_init(&w->done, NULL);
	int rc = 0;
	if (engine_init(&w->own, codec) != 0)
		rc = sv_error_set(SV_EIO, "out of memory");
	if (rc == 0 && codec == SV_WARC_ZSTD) {
		if (!(w->big = ZSTD_createCCtx()) || zstd_params(w->big))
			rc = sv_error_set(SV_EIO, "out of memory");
		else if (w->nthreads > 1 && !ZSTD_isError(ZSTD_CCtx_setParameter(w->big, ZSTD_c_nbWorkers, w->nthreads)))
			/* zstd's jobs default to several windows each: small jobs keep memory flat */
			ZSTD_CCtx_setParameter(w->big, ZSTD_c_jobSize, 2 << 20);
	}
	for (int i = 0; rc == 0 && w->nthreads > 1 && i < w->nthreads; i++) {
		if (pthread_create(&w->tids[i], NULL, worker, w) != 0) {
			rc = sv_error_set(SV_EIO, "cannot start a compression thread");
			break;
		}
		w->started++;
	}
	if (rc) {
		sv_warc_close(w, NULL);
		return rc;
	}
	*out = w;
	return 0;
}

int sv_warc_close(sv_warc_file *w, uint64_t *size)
{
	if (!w)
		return 0;
	int rc = w->started ? drain(w, 1, 0) : w->err;
	pthread_mutex_lock(&w->mu);
	w->stop = 1;
	pthread_cond_broadcast(&w->work);
	pthread_mutex_unlock(&w->mu);
	for (int i = 0; i < w->started; i++)
		pthread_join(w->tids[i], NULL);
	while (w->head) { /* after a failure */
		job *j = w->head;
		w->head = j->next;
		job_free(j);
	}
	if (size)
		*size = w->offset;
	engine_free(&w->own);
	ZSTD_freeCCtx(w->big);
	pthread_mutex_destroy(&w->mu);
	pthread_cond_destroy(&w->work);
	pthread_cond_destroy(&w->done);
	free(w->buf);
	free(w);
	return rc;
}

uint64_t sv_warc_offset(sv_warc_file *w)
{
	if (w->started)
		drain(w, 0, SIZE_MAX);
	pthread_mutex_lock(&w->mu);
	uint64_t n = w->offset + w->inflight;
	pthread_mutex_unlock(&w->mu);
	return n;
}

/* The record's bytes, in order, from its parts: header, head, tail (from src), CRLF CRLF. */
typedef struct {
	const char *header;
	size_t header_len;
	const unsigned char *head;
	size_t head_len;
	uint64_t tail_len, tail_done;
	sv_warc_source_fn src;
	void *src_ctx;
	uint64_t pos, total;
} parts;

static int parts_read(parts *p, unsigned char *buf, size_t n)
{
	while (n > 0) {
		size_t k;
		if (p->pos < p->header_len) {
			k = p->header_len - p->pos < n ? p->header_len - (size_t)p->pos : n;
			memcpy(buf, p->header + p->pos, k);
		} else if (p->pos < p->header_len + p->head_len) {
			size_t at = (size_t)(p->pos - p->header_len);
			k = p->head_len - at < n ? p->head_len - at : n;
			memcpy(buf, p->head + at, k);
		} else if (p->tail_done < p->tail_len) {
			size_t want = p->tail_len - p->tail_done < n ? (size_t)(p->tail_len - p->tail_done) : n;
			int rc = p->src(p->src_ctx, buf, want, &k);
			if (rc)
				return rc;
			if (k == 0)
				return sv_error_set(SV_ECORRUPT, "a payload ended %llu bytes short of its length",
						    (unsigned long long)(p->tail_len - p->tail_done));
			p->tail_done += k;
		} else {
			size_t at = (size_t)(p->pos - (p->total - 4));
			k = 4 - at < n ? 4 - at : n;
			memcpy(buf, "\r\n\r\n" + at, k);
		}
		buf += k;
		n -= k;
		p->pos += k;
	}
	return 0;
}

/* After the tail: the source must have nothing more. */
static int parts_end(parts *p)
{
	unsigned char c;
	size_t k = 0;
	int rc;
	if (p->tail_len && (rc = p->src(p->src_ctx, &c, 1, &k)))
		return rc;
	return k ? sv_error_set(SV_ECORRUPT, "a payload is longer than its length") : 0;
}

/* A large zstd record: one frame, compressed here on zstd's workers, after everything before it is written. */
static int write_big_zstd(sv_warc_file *w, parts *p, void *tag)
{
	int rc = w->started ? drain(w, 1, 0) : w->err;
	if (rc)
		return rc;
	size_t ocap = ZSTD_CStreamOutSize();
	unsigned char *out = malloc(ocap);
	if (!out)
		return sv_error_set(SV_EIO, "out of memory");
	ZSTD_CCtx_reset(w->big, ZSTD_reset_session_only);
	if (ZSTD_isError(ZSTD_CCtx_setPledgedSrcSize(w->big, p->total)))
		rc = sv_error_set(SV_EIO, "zstd compression failed");
	uint64_t start = w->offset;
	while (rc == 0) {
		size_t n = p->total - p->pos < PIECE ? (size_t)(p->total - p->pos) : PIECE;
		int last = p->pos + n == p->total;
		if ((rc = parts_read(p, w->buf, n)) || (last && (rc = parts_end(p))))
			break;
		ZSTD_inBuffer in = {w->buf, n, 0};
		size_t left;
		do {
			ZSTD_outBuffer o = {out, ocap, 0};
			left = ZSTD_compressStream2(w->big, &o, &in, last ? ZSTD_e_end : ZSTD_e_continue);
			if (ZSTD_isError(left)) {
				rc = sv_error_set(SV_EIO, "zstd compression failed: %s", ZSTD_getErrorName(left));
				break;
			}
			if ((rc = write_all(w, out, o.pos)))
				break;
		} while (last ? left != 0 : in.pos < in.size);
		if (last)
			break;
	}
	free(out);
	if (rc == 0 && w->written && tag)
		w->written(w->ctx, tag, start, w->offset - start);
	if (rc)
		w->err = rc;
	return rc;
}

int sv_warc_write(sv_warc_file *w, const char *header, size_t header_len, const void *head, size_t head_len,
		  uint64_t tail_len, sv_warc_source_fn src, void *src_ctx, void *tag)
{
	if (w->err)
		return w->err;
	parts p = {header, header_len, head, head_len, tail_len, 0, src, src_ctx, 0, 0};
	p.total = header_len + head_len + tail_len + 4;
	int rc = 0;
	if (p.total <= WHOLE_MAX) {
		job *j = calloc(1, sizeof(*j));
		if (!j || !(j->in = malloc((size_t)p.total))) {
			free(j);
			return w->err = sv_error_set(SV_EIO, "out of memory");
		}
		j->kind = WHOLE;
		j->first = j->last = 1;
		j->in_len = (size_t)p.total;
		j->tag = tag;
		if ((rc = parts_read(&p, j->in, j->in_len)) || (rc = parts_end(&p))) {
			job_free(j);
			return w->err = rc;
		}
		return submit(w, j);
	}
	if (w->codec == SV_WARC_ZSTD)
		return write_big_zstd(w, &p, tag);
	/* A large gzip record: pieces, each with the 32 KiB before it. */
	unsigned char *prev = malloc(DICT);
	size_t prev_len = 0;
	if (!prev)
		return w->err = sv_error_set(SV_EIO, "out of memory");
	for (int first = 1; p.pos < p.total; first = 0) {
		job *j = calloc(1, sizeof(*j));
		size_t n = p.total - p.pos < PIECE ? (size_t)(p.total - p.pos) : PIECE;
		if (!j || !(j->in = malloc(n)) || (prev_len && !(j->dict = malloc(prev_len)))) {
			if (j)
				job_free(j);
			rc = sv_error_set(SV_EIO, "out of memory");
			break;
		}
		j->kind = GZ_PIECE;
		j->first = first;
		j->in_len = n;
		if (prev_len)
			memcpy(j->dict, prev, prev_len);
		j->dict_len = prev_len;
		if ((rc = parts_read(&p, j->in, n)) == 0 && p.pos == p.total)
			rc = parts_end(&p);
		if (rc) {
			job_free(j);
			break;
		}
		j->last = p.pos == p.total;
		if (j->last)
			j->tag = tag;
		prev_len = n < DICT ? n : DICT;
		memcpy(prev, j->in + n - prev_len, prev_len);
		if ((rc = submit(w, j)))
			break;
	}
	free(prev);
	if (rc && !w->err)
		w->err = rc;
	return rc;
}

static void header_put(sv_warc_header *h, const char *s, size_t n)
{
	if (h->failed)
		return;
	if (h->len + n + 1 > h->cap) {
		size_t cap = h->cap ? h->cap : 512;
		while (h->len + n + 1 > cap)
			cap *= 2;
		char *b = realloc(h->buf, cap);
		if (!b) {
			h->failed = 1;
			return;
		}
		h->buf = b;
		h->cap = cap;
	}
	memcpy(h->buf + h->len, s, n);
	h->len += n;
	h->buf[h->len] = '\0';
}

void sv_warc_header_begin(sv_warc_header *h, const char *type)
{
	memset(h, 0, sizeof(*h));
	header_put(h, "WARC/1.1\r\n", 10);
	sv_warc_header_add(h, "WARC-Type", type);
}

void sv_warc_header_add(sv_warc_header *h, const char *name, const char *value)
{
	if (!value)
		return;
	header_put(h, name, strlen(name));
	header_put(h, ": ", 2);
	size_t start = h->len;
	header_put(h, value, strlen(value));
	if (!h->failed)
		for (size_t i = start; i < h->len; i++)
			if (h->buf[i] == '\r' || h->buf[i] == '\n')
				h->buf[i] = ' ';
	header_put(h, "\r\n", 2);
}

int sv_warc_header_end(sv_warc_header *h, uint64_t content_length)
{
	char n[32];
	snprintf(n, sizeof(n), "%llu", (unsigned long long)content_length);
	sv_warc_header_add(h, "Content-Length", n);
	header_put(h, "\r\n", 2);
	return h->failed ? sv_error_set(SV_EIO, "out of memory") : 0;
}

void sv_warc_header_free(sv_warc_header *h)
{
	free(h->buf);
	memset(h, 0, sizeof(*h));
}
