/* delayproxy: a TCP proxy on 127.0.0.1 that adds a fixed delay to each
 * direction of every connection, for the bench's WAN scenario (this
 * kernel has no netem).
 *
 *   delayproxy UPSTREAM_PORT DELAY_MS
 *
 * Listens on an ephemeral port of 127.0.0.1 (printed as "PORT\n" on
 * stdout once listening), connects every accepted client to
 * 127.0.0.1:UPSTREAM_PORT and forwards the bytes each side sends DELAY_MS
 * after they arrived. Every chunk read is stamped with its release time and
 * queued; the loop never sleeps while something is readable, so a
 * pipelined stream keeps flowing (the delay is latency, not a bandwidth
 * cap). Reading from a side stops while more than QUEUE_MAX bytes wait in
 * its queue. An EOF is forwarded (shutdown) after the same delay.
 * Runs until killed.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define CHUNK (256 * 1024)
#define QUEUE_MAX (64u << 20)

struct chunk {
	struct chunk *next;
	int64_t release_ns;
	size_t len, off;
	int eof;
	char data[];
};

/* One direction: bytes read from `from`, written to `to`. */
struct dir {
	int from, to;
	struct chunk *head, *tail;
	size_t queued;
	int read_eof;   /* EOF seen on from */
	int blocked;    /* the last write would block: wait for EPOLLOUT */
	int write_done; /* EOF forwarded (shutdown of to) */
};

struct pair;

struct tag {
	struct pair *p; /* NULL: the listening socket */
	int side;
};

struct pair {
	int fd[2];  /* 0: client, 1: upstream */
	struct dir d[2]; /* d[0]: client -> upstream, d[1]: upstream -> client */
	struct tag tag[2];
	uint32_t mask[2];
	int dead;
};

static int64_t delay_ns;
static int epfd;

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void nonblock(int fd)
{
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

/* Interest of a socket: readable when its outgoing queue has room,
 * writable when a due chunk is waiting for it. Edge-triggered, and changed
 * only when it differs, so a hung-up socket whose data is still delayed
 * does not wake the loop again and again. */
static void update(struct pair *p, int side, int64_t now)
{
	struct dir *rd = &p->d[side];     /* reads from fd[side] */
	struct dir *wd = &p->d[1 - side]; /* writes to fd[side] */
	uint32_t ev = EPOLLET;
	if (!rd->read_eof && rd->queued < QUEUE_MAX)
		ev |= EPOLLIN;
	if (wd->head != NULL && wd->head->release_ns <= now && !wd->write_done)
		ev |= EPOLLOUT;
	if (ev == p->mask[side])
		return;
	p->mask[side] = ev;
	struct epoll_event e = {.events = ev, .data.ptr = &p->tag[side]};
	epoll_ctl(epfd, EPOLL_CTL_MOD, p->fd[side], &e);
}

static void pair_close(struct pair *p)
{
	if (p->dead)
		return;
	p->dead = 1;
	for (int i = 0; i < 2; i++) {
		epoll_ctl(epfd, EPOLL_CTL_DEL, p->fd[i], NULL);
		close(p->fd[i]);
		struct chunk *c = p->d[i].head;
		while (c != NULL) {
			struct chunk *n = c->next;
			free(c);
			c = n;
		}
		p->d[i].head = p->d[i].tail = NULL;
	}
}

static void enqueue(struct dir *d, const char *data, size_t len, int eof, int64_t now)
{
	struct chunk *c = malloc(sizeof(*c) + len);
	c->next = NULL;
	c->release_ns = now + delay_ns;
	c->len = len;
	c->off = 0;
	c->eof = eof;
	memcpy(c->data, data, len);
	if (d->tail != NULL)
		d->tail->next = c;
	else
		d->head = c;
	d->tail = c;
	d->queued += len;
}

/* Read what is there from fd[side] into its direction's queue. */
static int do_read(struct pair *p, int side, int64_t now)
{
	static char buf[CHUNK];
	struct dir *d = &p->d[side];
	while (!d->read_eof && d->queued < QUEUE_MAX) {
		ssize_t n = read(p->fd[side], buf, sizeof(buf));
		if (n > 0) {
			enqueue(d, buf, (size_t)n, 0, now);
			continue;
		}
		if (n == 0) {
			d->read_eof = 1;
			enqueue(d, "", 0, 1, now);
			break;
		}
		if (errno == EAGAIN || errno == EINTR)
			break;
		return -1;
	}
	return 0;
}

/* Write the due chunks of direction d to its socket. */
static int do_write(struct dir *d, int64_t now)
{
	d->blocked = 0;
	while (d->head != NULL && d->head->release_ns <= now && !d->write_done) {
		struct chunk *c = d->head;
		if (c->eof) {
			shutdown(d->to, SHUT_WR);
			d->write_done = 1;
		} else {
			while (c->off < c->len) {
				ssize_t n = write(d->to, c->data + c->off, c->len - c->off);
				if (n > 0) {
					c->off += (size_t)n;
					d->queued -= (size_t)n;
					continue;
				}
				if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
					d->blocked = 1;
					return 0;
				}
				return -1;
			}
		}
		d->head = c->next;
		if (d->head == NULL)
			d->tail = NULL;
		free(c);
	}
	return 0;
}

static void service(struct pair *p, int64_t now)
{
	if (p->dead)
		return;
	for (int i = 0; i < 2; i++) {
		if (do_write(&p->d[i], now) < 0) {
			pair_close(p);
			return;
		}
	}
	if (p->d[0].write_done && p->d[1].write_done) {
		pair_close(p);
		return;
	}
	update(p, 0, now);
	update(p, 1, now);
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: delayproxy UPSTREAM_PORT DELAY_MS\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	int up_port = atoi(argv[1]);
	delay_ns = (int64_t)atoi(argv[2]) * 1000000;

	int lfd = socket(AF_INET, SOCK_STREAM, 0);
	int one = 1;
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(lfd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(lfd, 128) < 0) {
		perror("delayproxy: listen");
		return 1;
	}
	socklen_t alen = sizeof(a);
	getsockname(lfd, (struct sockaddr *)&a, &alen);
	printf("%d\n", ntohs(a.sin_port));
	fflush(stdout);

	epfd = epoll_create1(0);
	struct tag ltag = {NULL, 0};
	struct epoll_event le = {.events = EPOLLIN, .data.ptr = &ltag};
	epoll_ctl(epfd, EPOLL_CTL_ADD, lfd, &le);

	struct pair **pairs = NULL;
	size_t npairs = 0;
	for (;;) {
		/* Write whatever is due, refresh interests, drop closed pairs. */
		int64_t now = now_ns();
		size_t k = 0;
		for (size_t i = 0; i < npairs; i++) {
			service(pairs[i], now);
			if (pairs[i]->dead)
				free(pairs[i]);
			else
				pairs[k++] = pairs[i];
		}
		npairs = k;
		/* Sleep until the earliest queued chunk is due (ms, rounded up;
		 * 0 when one fell due meanwhile); a direction whose socket is full
		 * waits for its EPOLLOUT instead. */
		int64_t next = -1;
		for (size_t i = 0; i < npairs; i++) {
			for (int j = 0; j < 2; j++) {
				struct dir *d = &pairs[i]->d[j];
				if (d->head != NULL && !d->write_done && !d->blocked &&
				    (next < 0 || d->head->release_ns < next))
					next = d->head->release_ns;
			}
		}
		int timeout = -1;
		if (next >= 0) {
			int64_t wait = next - now_ns();
			timeout = wait <= 0 ? 0 : (int)((wait + 999999) / 1000000);
		}
		struct epoll_event evs[64];
		int n = epoll_wait(epfd, evs, 64, timeout);
		if (n < 0 && errno != EINTR) {
			perror("delayproxy: epoll_wait");
			return 1;
		}
		now = now_ns();
		for (int i = 0; i < n; i++) {
			struct tag *t = evs[i].data.ptr;
			if (t->p == NULL) {
				int cfd = accept(lfd, NULL, NULL);
				if (cfd < 0)
					continue;
				int ufd = socket(AF_INET, SOCK_STREAM, 0);
				struct sockaddr_in u = {.sin_family = AF_INET,
							.sin_port = htons((uint16_t)up_port)};
				u.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
				if (connect(ufd, (struct sockaddr *)&u, sizeof(u)) < 0) {
					close(cfd);
					close(ufd);
					continue;
				}
				nonblock(cfd);
				nonblock(ufd);
				struct pair *p = calloc(1, sizeof(*p));
				p->fd[0] = cfd;
				p->fd[1] = ufd;
				p->d[0].from = cfd;
				p->d[0].to = ufd;
				p->d[1].from = ufd;
				p->d[1].to = cfd;
				for (int j = 0; j < 2; j++) {
					p->tag[j].p = p;
					p->tag[j].side = j;
					p->mask[j] = EPOLLET;
					struct epoll_event e = {.events = EPOLLET,
								.data.ptr = &p->tag[j]};
					epoll_ctl(epfd, EPOLL_CTL_ADD, p->fd[j], &e);
				}
				pairs = realloc(pairs, (npairs + 1) * sizeof(*pairs));
				pairs[npairs++] = p;
				continue;
			}
			struct pair *p = t->p;
			if (p->dead)
				continue;
			if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
				if (do_read(p, t->side, now) < 0) {
					pair_close(p);
					continue;
				}
			}
		}
	}
}
