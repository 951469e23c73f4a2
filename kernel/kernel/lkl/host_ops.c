/*
 * LKL's host operations table, filled from the LKL tree's own installed
 * header (<lkl/asm/host_ops.h>), so the struct layout is never copied by
 * hand: the same Rust host operations serve any LKL version that has the
 * operations we implement. kernel/build.rs compiles this file against
 * $EMBOX_LKL_DIR/include with -include of a generated file that defines
 * EMBOX_LKL_HAS_<op> for each member the tree's struct has.
 *
 * Every embox_lkl_* function is Rust (kernel/hal/src/lkl/host.rs,
 * jmp.rs); the prototypes below are our side of the ABI, and gcc checks
 * each against the member type of the tree's struct
 * (-Werror=incompatible-pointer-types).
 */
#include <stdarg.h>
#include <lkl/asm/host_ops.h>

void embox_lkl_print(const char *str, int len);
void embox_lkl_panic(void);
struct lkl_sem *embox_lkl_sem_alloc(int count);
void embox_lkl_sem_free(struct lkl_sem *sem);
void embox_lkl_sem_up(struct lkl_sem *sem);
void embox_lkl_sem_down(struct lkl_sem *sem);
struct lkl_mutex *embox_lkl_mutex_alloc(int recursive);
void embox_lkl_mutex_free(struct lkl_mutex *mutex);
void embox_lkl_mutex_lock(struct lkl_mutex *mutex);
void embox_lkl_mutex_unlock(struct lkl_mutex *mutex);
lkl_thread_t embox_lkl_thread_create(void (*f)(void *), void *arg);
void embox_lkl_thread_detach(void);
void embox_lkl_thread_exit(void);
int embox_lkl_thread_join(lkl_thread_t tid);
lkl_thread_t embox_lkl_thread_self(void);
int embox_lkl_thread_equal(lkl_thread_t a, lkl_thread_t b);
struct lkl_tls_key *embox_lkl_tls_alloc(void (*destructor)(void *));
void embox_lkl_tls_free(struct lkl_tls_key *key);
int embox_lkl_tls_set(struct lkl_tls_key *key, void *data);
void *embox_lkl_tls_get(struct lkl_tls_key *key);
void *embox_lkl_mem_alloc(unsigned long size);
void embox_lkl_mem_free(void *ptr);
void *embox_lkl_page_alloc(unsigned long size);
void embox_lkl_page_free(void *addr, unsigned long size);
unsigned long long embox_lkl_time(void);
void *embox_lkl_timer_alloc(void (*fn)(void *), void *arg);
int embox_lkl_timer_set_oneshot(void *timer, unsigned long delta);
void embox_lkl_timer_free(void *timer);
void *embox_lkl_ioremap(long addr, int size);
int embox_lkl_iomem_access(const volatile void *addr, void *val, int size, int write);
long embox_lkl_gettid(void);
void embox_lkl_jmp_buf_set(struct lkl_jmp_buf *jmpb, void (*f)(void));
void embox_lkl_jmp_buf_longjmp(struct lkl_jmp_buf *jmpb, int val);
void *embox_lkl_memcpy(void *dest, const void *src, unsigned long count);

/* jmp.rs keeps six words in the jump buffer. */
_Static_assert(sizeof(struct lkl_jmp_buf) >= 6 * sizeof(long), "lkl_jmp_buf too small for embox_lkl_jmp_buf_set");

#define OP(name) .name = embox_lkl_##name,

struct lkl_host_operations embox_lkl_host_ops = {
	OP(print)
	OP(panic)
	OP(sem_alloc)
	OP(sem_free)
	OP(sem_up)
	OP(sem_down)
	OP(mutex_alloc)
	OP(mutex_free)
	OP(mutex_lock)
	OP(mutex_unlock)
	OP(thread_create)
	OP(thread_detach)
	OP(thread_exit)
	OP(thread_join)
#ifdef EMBOX_LKL_HAS_thread_self
	OP(thread_self)
#endif
#ifdef EMBOX_LKL_HAS_thread_equal
	OP(thread_equal)
#endif
	OP(tls_alloc)
	OP(tls_free)
	OP(tls_set)
	OP(tls_get)
	OP(mem_alloc)
	OP(mem_free)
#ifdef EMBOX_LKL_HAS_page_alloc
	OP(page_alloc)
	OP(page_free)
#endif
	OP(time)
	OP(timer_alloc)
	OP(timer_set_oneshot)
	OP(timer_free)
	OP(ioremap)
	OP(iomem_access)
	OP(gettid)
	OP(jmp_buf_set)
	OP(jmp_buf_longjmp)
#ifdef EMBOX_LKL_HAS_memcpy
	OP(memcpy)
#endif
};

int lkl_start_kernel(struct lkl_host_operations *ops, const char *cmd_line, ...);

int embox_lkl_start(unsigned long mem_mib, const char *extra)
{
	return lkl_start_kernel(&embox_lkl_host_ops, "mem=%luM %s", mem_mib, extra);
}

/*
 * lkl_printf and lkl_bug: LKL's only other undefined symbols. A small
 * formatter (no libc here): %s %d %i %u %x %p %c %%, with l/ll/z sizes.
 */
struct out { char *buf; int len, cap; };

static void put(struct out *o, char c)
{
	if (o->len < o->cap)
		o->buf[o->len] = c;
	o->len++;
}

/* *v /= base, returning the remainder: bit by bit, since there is no
 * libgcc here for a 64-bit division on i386. */
static unsigned divmod(unsigned long long *v, unsigned base)
{
	unsigned long long q = 0, r = 0;
	for (int bit = 63; bit >= 0; bit--) {
		r = r << 1 | ((*v >> bit) & 1);
		q <<= 1;
		if (r >= base) {
			r -= base;
			q |= 1;
		}
	}
	*v = q;
	return (unsigned)r;
}

static void put_num(struct out *o, unsigned long long v, int base, int neg)
{
	char digits[24];
	int n = 0;
	if (neg)
		put(o, '-');
	do
		digits[n++] = "0123456789abcdef"[divmod(&v, base)];
	while (v);
	while (n)
		put(o, digits[--n]);
}

static int format(char *buf, int cap, const char *fmt, va_list ap)
{
	struct out o = { buf, 0, cap - 1 };
	for (; *fmt; fmt++) {
		int longs = 0;
		if (*fmt != '%') {
			put(&o, *fmt);
			continue;
		}
		fmt++;
		while (*fmt == '-' || *fmt == '0' || (*fmt >= '1' && *fmt <= '9') || *fmt == '.')
			fmt++;
		while (*fmt == 'l' || *fmt == 'z' || *fmt == 'h') {
			if (*fmt == 'l')
				longs++;
			fmt++;
		}
		switch (*fmt) {
		case 'd': case 'i': {
			long long v = longs >= 2 ? va_arg(ap, long long) : longs ? va_arg(ap, long) : va_arg(ap, int);
			put_num(&o, v < 0 ? -(unsigned long long)v : (unsigned long long)v, 10, v < 0);
			break;
		}
		case 'u': case 'x': case 'p': {
			unsigned long long v = *fmt == 'p' ? (unsigned long)va_arg(ap, void *) :
				longs >= 2 ? va_arg(ap, unsigned long long) : longs ? va_arg(ap, unsigned long) : va_arg(ap, unsigned int);
			if (*fmt == 'p') {
				put(&o, '0');
				put(&o, 'x');
			}
			put_num(&o, v, *fmt == 'u' ? 10 : 16, 0);
			break;
		}
		case 's': {
			const char *s = va_arg(ap, const char *);
			for (s = s ? s : "(null)"; *s; s++)
				put(&o, *s);
			break;
		}
		case 'c':
			put(&o, (char)va_arg(ap, int));
			break;
		case '%':
			put(&o, '%');
			break;
		case 0:
			fmt--;
			break;
		default:
			put(&o, '%');
			put(&o, *fmt);
		}
	}
	buf[o.len < cap ? o.len : cap - 1] = 0;
	return o.len < cap ? o.len : cap - 1;
}

static int print_formatted(const char *fmt, va_list ap)
{
	char buf[512];
	int n = format(buf, sizeof(buf), fmt, ap);
	embox_lkl_print(buf, n);
	return n;
}

int lkl_printf(const char *fmt, ...)
{
	va_list ap;
	int n;
	va_start(ap, fmt);
	n = print_formatted(fmt, ap);
	va_end(ap);
	return n;
}

void lkl_bug(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	print_formatted(fmt, ap);
	va_end(ap);
	embox_lkl_panic();
}
