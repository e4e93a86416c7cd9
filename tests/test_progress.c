/* Tests of the progress line's arithmetic: time formatting, the estimate of the time left, and silence when stderr is not a terminal. */
#include <fcntl.h>
#include <unistd.h>
#include "testlib.h"
#include "progress.h"

static void test_progress_format_time(void)
{
    char b[32];
    progress_format_time(0, b, sizeof(b)); CHECK_MSG(!strcmp(b, "0 s"), "%s", b);
    progress_format_time(42.4, b, sizeof(b)); CHECK_MSG(!strcmp(b, "42 s"), "%s", b);
    progress_format_time(59.6, b, sizeof(b)); CHECK_MSG(!strcmp(b, "1 min 00 s"), "%s", b);
    progress_format_time(185, b, sizeof(b)); CHECK_MSG(!strcmp(b, "3 min 05 s"), "%s", b);
    progress_format_time(7650, b, sizeof(b)); CHECK_MSG(!strcmp(b, "2 h 07 min"), "%s", b);
    progress_format_time(-3, b, sizeof(b)); CHECK_MSG(!strcmp(b, "0 s"), "%s", b);
}

static void test_progress_eta(void)
{
    /* a quarter done in 10 s: 30 s left; all done: nothing left; nothing done: unknown */
    CHECK_NEAR(progress_eta(10, 0.25), 30, 1e-12);
    CHECK_NEAR(progress_eta(10, 1), 0, 1e-12);
    CHECK(progress_eta(10, 0) < 0);
    CHECK(progress_eta(10, 1.5) < 0);
    CHECK(progress_eta(10, NAN) < 0);
}

static void test_progress_silent_without_terminal(void)
{
    int fd = open("/dev/null", O_WRONLY);
    CHECK(fd >= 0);
    if(fd < 0) return;
    progress p;
    progress_init(&p, 3, fd);
    CHECK(p.out == NULL);
    progress_case(&p, 0, "a");
    progress_update(&p, 5, 10);
    progress_clear(&p);
    CHECK(p.shown == 0 && p.done == 0);
    close(fd);
}

int main(void)
{
    RUN(test_progress_format_time);
    RUN(test_progress_eta);
    RUN(test_progress_silent_without_terminal);
    TEST_MAIN_END();
}
