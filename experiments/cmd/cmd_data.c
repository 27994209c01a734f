/* `resbench data`: describes a data source (sizes, loss floor, the first training row). */
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"
#include "cmd.h"
#include "config.h"
#include "data.h"
#include "util.h"

int cmd_data(int argc, char **argv) {
    if (cli_wants_help(argc, argv)) {
        printf("usage: resbench data [--config FILE] [key=value ...]\n\n"
               "Opens the data source of the config (key data=, seq_len=, data_seed=, ...),\n"
               "prints its size and exact loss floor (synthetic sources) and the first\n"
               "training row. Sources (docs/usage.md, \"Data\"): synth:markov, synth:hops,\n"
               "synth:compose (each with optional :KEY=VALUE,... options), text:PATH\n"
               "(bytes of a file), llmc:GLOB (llm.c token shards).\n");
        return RB_EXIT_OK;
    }
    Config c;
    if (cli_parse(argc, argv, &c, NULL, NULL, NULL) != 0) rb_die(RB_EXIT_USAGE, "%s", rb_error());
    Data d;
    if (data_open(&d, &c) != 0) {
        data_close(&d);
        rb_die(RB_EXIT_USAGE, "%s", rb_error());
    }
    char desc[512];
    data_describe(&d, desc, sizeof desc);
    printf("%s\n", desc);
    int *row = rb_calloc((size_t)c.seq_len + 1, sizeof(int), "row");
    data_train_batch(&d, 0, 1, row);
    printf("first training row (%d tokens):\n", c.seq_len + 1);
    for (int t = 0; t <= c.seq_len; t++) {
        int x = row[t];
        if (x == '\n')
            printf("\\n");
        else if (x >= 32 && x < 127)
            putchar(x);
        else
            printf("<%d>", x);
    }
    printf("\n");
    free(row);
    data_close(&d);
    return RB_EXIT_OK;
}
