"""Two small lossless JPEG encoders, for test data only: nothing installed writes these streams.

- JPEG Lossless (ITU T.81, process 14, predictor 1 "selection value 1"), grey, 2–16 bits.
- JPEG-LS lossless (ITU T.87, NEAR = 0, default thresholds), grey, 2–16 bits.

Both take a (rows, columns) array of unsigned sample values below 2**precision and return one
complete codestream (SOI … EOI), to be encapsulated as one DICOM frame. They are written for
clarity, not speed: pure Python, a few microseconds per pixel, fine for phantoms of a few thousand
pixels. The installed decoders (pylibjpeg-libjpeg) read them back; tests check the round trip.
"""
from __future__ import annotations

import struct

import numpy as np


class BitWriter:
    """Bits, most significant first, into bytes; `stuff` says how a 0xFF byte is followed."""

    def __init__(self, stuff: str):
        self.stuff = stuff  # "zero-byte" (T.81: FF 00) or "zero-bit" (T.87: next byte has 7 bits)
        self.out = bytearray()
        self.byte = 0
        self.filled = 0
        self.capacity = 8

    def write(self, value: int, bits: int) -> None:
        for shift in range(bits - 1, -1, -1):
            self.bit((value >> shift) & 1)

    def bit(self, bit: int) -> None:
        self.byte = (self.byte << 1) | bit
        self.filled += 1
        if self.filled == self.capacity:
            self.flush_byte()

    def flush_byte(self) -> None:
        self.out.append(self.byte)
        self.capacity = 8
        if self.byte == 0xFF:
            if self.stuff == "zero-byte":
                self.out.append(0x00)
            else:
                self.capacity = 7
        self.byte = 0
        self.filled = 0

    def finish(self, pad_bit: int) -> bytes:
        while self.filled:
            self.bit(pad_bit)
        if self.out and self.out[-1] == 0xFF and self.stuff == "zero-bit":
            self.out.append(0x00)
        return bytes(self.out)


def segment(marker: int, payload: bytes) -> bytes:
    return struct.pack(">HH", marker, len(payload) + 2) + payload


def check_samples(pixels: np.ndarray, precision: int) -> np.ndarray:
    pixels = np.asarray(pixels)
    if pixels.ndim != 2 or not 2 <= precision <= 16:
        raise ValueError("one grey frame (rows, columns) of 2 to 16 bits")
    if pixels.min() < 0 or pixels.max() >= 1 << precision:
        raise ValueError(f"samples must be unsigned and below 2**{precision}")
    return pixels.astype(np.int64)


# --- JPEG Lossless, process 14, selection value 1 ----------------------------------------------

# One Huffman table for the 17 difference categories: every category gets a 5-bit code 0..16.
LOSSLESS_CODE_BITS = 5


def encode_jpeg_lossless(pixels: np.ndarray, precision: int) -> bytes:
    """JPEG Lossless, non-hierarchical, first-order prediction (SV1): predictor Ra (the left sample)."""
    samples = check_samples(pixels, precision)
    rows, columns = samples.shape
    frame_header = struct.pack(">BHHB", precision, rows, columns, 1) + bytes([1, 0x11, 0])
    bits = [0] * 16
    bits[LOSSLESS_CODE_BITS - 1] = 17
    huffman = bytes([0x00]) + bytes(bits) + bytes(range(17))
    scan_header = bytes([1, 1, 0x00, 1, 0, 0])  # 1 component, table 0, Ss=1 (predictor), Se=0, Ah/Al=0
    writer = BitWriter("zero-byte")
    for y in range(rows):
        for x in range(columns):
            if x == 0:
                predicted = 1 << (precision - 1) if y == 0 else samples[y - 1, 0]
            else:
                predicted = samples[y, x - 1]
            difference = (int(samples[y, x]) - int(predicted)) % 65536
            if difference >= 32768:
                difference -= 65536
            category = 16 if difference == -32768 else abs(difference).bit_length()
            writer.write(category, LOSSLESS_CODE_BITS)
            if 0 < category < 16:
                extra = difference if difference > 0 else difference + (1 << category) - 1
                writer.write(extra, category)
    return (
        b"\xff\xd8"
        + segment(0xFFC4, huffman)
        + segment(0xFFC3, frame_header)
        + segment(0xFFDA, scan_header)
        + writer.finish(pad_bit=1)
        + b"\xff\xd9"
    )


# --- JPEG-LS lossless ---------------------------------------------------------------------------

RUN_ORDER = (0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 9, 10, 11, 12, 13, 14, 15)
RESET = 64


def encode_jpeg_ls(pixels: np.ndarray, precision: int) -> bytes:
    """JPEG-LS lossless (NEAR 0), regular and run mode, default parameters (T.87 annex A, C.2.4.1.1)."""
    samples = check_samples(pixels, precision)
    rows, columns = samples.shape
    maxval = (1 << precision) - 1
    value_range = maxval + 1
    qbpp = max(1, (value_range - 1).bit_length())
    bpp = max(2, (maxval).bit_length())
    limit = 2 * (bpp + max(8, bpp))
    t1, t2, t3 = default_thresholds(maxval)

    # Regular contexts are numbered 0..404 (q1 ≥ 0 after the sign flip), the two run-interruption
    # contexts 405 and 406; the numbering is private to the coder, only the states matter.
    a = [max(2, (value_range + 32) // 64)] * 407
    n = [1] * 407
    b = [0] * 405
    c = [0] * 405
    nn = [0, 0]  # Nn of the two run-interruption contexts
    run_index = 0
    writer = BitWriter("zero-bit")

    def golomb(mapped: int, k: int, glimit: int) -> None:
        high = mapped >> k
        if high < glimit - qbpp - 1:
            writer.write(0, high)
            writer.bit(1)
            writer.write(mapped & ((1 << k) - 1), k)
        else:
            writer.write(0, glimit - qbpp - 1)
            writer.bit(1)
            writer.write(mapped - 1, qbpp)

    def reduce(error: int) -> int:
        if error < 0:
            error += value_range
        if error >= (value_range + 1) // 2:
            error -= value_range
        return error

    def quantize(d: int) -> int:
        if d <= -t3:
            return -4
        if d <= -t2:
            return -3
        if d <= -t1:
            return -2
        if d < 0:
            return -1
        if d == 0:
            return 0
        if d < t1:
            return 1
        if d < t2:
            return 2
        if d < t3:
            return 3
        return 4

    previous = [0] * (columns + 2)  # index x+1 holds column x; [0] is column −1, [-1] column `columns`
    for y in range(rows):
        line = [int(v) for v in samples[y]]
        current = [0] * (columns + 2)
        current[0] = previous[1]
        previous[columns + 1] = previous[columns]
        x = 0
        while x < columns:
            ra, rb, rc, rd = current[x], previous[x + 1], previous[x], previous[x + 2]
            d1, d2, d3 = rd - rb, rb - rc, rc - ra
            if d1 == 0 and d2 == 0 and d3 == 0:
                # Run mode: count samples equal to Ra, then code the one that breaks the run.
                run = 0
                while x + run < columns and line[x + run] == ra:
                    current[x + run + 1] = ra
                    run += 1
                end_of_line = x + run == columns
                x += run
                while run >= 1 << RUN_ORDER[run_index]:
                    writer.bit(1)
                    run -= 1 << RUN_ORDER[run_index]
                    run_index = min(run_index + 1, 31)
                if end_of_line:
                    if run > 0:
                        writer.bit(1)
                    continue
                writer.bit(0)
                writer.write(run, RUN_ORDER[run_index])
                sample = line[x]
                rb = previous[x + 1]
                ri_type = 1 if ra == rb else 0
                if ri_type:
                    error = reduce(sample - ra)
                else:
                    error = reduce((sample - rb) * (1 if rb > ra else -1))
                q = 405 + ri_type
                temp = a[q] + (n[q] >> 1) if ri_type else a[q]
                k = 0
                while (n[q] << k) < temp:
                    k += 1
                nq = nn[ri_type]
                flip = (k == 0 and error > 0 and 2 * nq < n[q]) or (error < 0 and (2 * nq >= n[q] or k != 0))
                mapped = 2 * abs(error) - ri_type - int(flip)
                golomb(mapped, k, limit - RUN_ORDER[run_index] - 1)
                if error < 0:
                    nn[ri_type] += 1
                a[q] += (mapped + 1 - ri_type) >> 1
                if n[q] == RESET:
                    a[q] >>= 1
                    n[q] >>= 1
                    nn[ri_type] >>= 1
                n[q] += 1
                if run_index > 0:
                    run_index -= 1
                current[x + 1] = sample
                x += 1
                continue

            q1, q2, q3 = quantize(d1), quantize(d2), quantize(d3)
            sign = 1
            if q1 < 0 or (q1 == 0 and q2 < 0) or (q1 == 0 and q2 == 0 and q3 < 0):
                q1, q2, q3, sign = -q1, -q2, -q3, -1
            q = (q1 * 9 + q2 + 4) * 9 + q3 + 4
            if rc >= max(ra, rb):
                predicted = min(ra, rb)
            elif rc <= min(ra, rb):
                predicted = max(ra, rb)
            else:
                predicted = ra + rb - rc
            predicted = min(max(predicted + sign * c[q], 0), maxval)
            sample = line[x]
            error = reduce((sample - predicted) * sign)
            k = 0
            while (n[q] << k) < a[q]:
                k += 1
            if k == 0 and 2 * b[q] <= -n[q]:
                mapped = 2 * error + 1 if error >= 0 else -2 * (error + 1)
            else:
                mapped = 2 * error if error >= 0 else -2 * error - 1
            golomb(mapped, k, limit)
            b[q] += error
            a[q] += abs(error)
            if n[q] == RESET:
                a[q] >>= 1
                b[q] = b[q] >> 1 if b[q] >= 0 else -((1 - b[q]) >> 1)
                n[q] >>= 1
            n[q] += 1
            if b[q] <= -n[q]:
                b[q] += n[q]
                if c[q] > -128:
                    c[q] -= 1
                if b[q] <= -n[q]:
                    b[q] = -n[q] + 1
            elif b[q] > 0:
                b[q] -= n[q]
                if c[q] < 127:
                    c[q] += 1
                if b[q] > 0:
                    b[q] = 0
            current[x + 1] = sample
            x += 1
        previous = current
    frame_header = struct.pack(">BHHB", precision, rows, columns, 1) + bytes([1, 0x11, 0])
    scan_header = bytes([1, 1, 0, 0, 0, 0])  # 1 component, no mapping table, NEAR 0, ILV 0, no point transform
    return (
        b"\xff\xd8"
        + segment(0xFFF7, frame_header)
        + segment(0xFFDA, scan_header)
        + writer.finish(pad_bit=0)
        + b"\xff\xd9"
    )


def default_thresholds(maxval: int) -> tuple[int, int, int]:
    """T1, T2, T3 for NEAR 0 (T.87 C.2.4.1.1.1)."""

    def clamp(value: int, low: int) -> int:
        return low if value > maxval or value < low else value

    if maxval >= 128:
        factor = (min(maxval, 4095) + 128) >> 8
        t1 = clamp(factor * (3 - 2) + 2, 1)
        t2 = clamp(factor * (7 - 3) + 3, t1)
        t3 = clamp(factor * (21 - 4) + 4, t2)
    else:
        factor = 256 // (maxval + 1)
        t1 = clamp(max(2, 3 // factor), 1)
        t2 = clamp(max(3, 7 // factor), t1)
        t3 = clamp(max(4, 21 // factor), t2)
    return t1, t2, t3
