/* The text loader (data=text:PATH, built as fuzz_text) and the llm.c shard reader (data=llmc:PATH,
 * built as fuzz_llmc with FUZZ_LLMC=1): the input is the file after a first byte that chooses the
 * sequence length. */
#include "config.h"
#include "data.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    int llmc = FUZZ_LLMC, T = 1 + data[0] % 16;
    const char *path = fuzz_file(data + 1, size - 1, llmc ? "-train.bin" : ".txt");
    if (!path) return 0;
    Config c;
    config_defaults(&c);
    c.seq_len = T;
    c.vocab_size = llmc ? 65536 : 256;
    snprintf(c.data, sizeof c.data, "%s:%s", llmc ? "llmc" : "text", path);
    Data d;
    if (data_open(&d, &c) == 0) {
        int rows[4 * 17];
        for (long s = 0; s < 3; s++) data_train_batch(&d, s, 4, rows);
        data_val_batch(&d, 0, 4, rows);
        for (int i = 0; i < 4 * (T + 1); i++)
            if (rows[i] < 0 || rows[i] >= c.vocab_size) __builtin_trap();
    }
    data_close(&d);
    return 0;
}
