"""The sandbox's random draws, replayed in Python: std::mt19937_64 and libstdc++'s std::normal_distribution.

The peer-step check needs the teacher task's batches without a sandbox option that writes them: a run stores
its initial and final weights, not its data. The draws are replayed here instead, in the order the sandbox
makes them (autodiff/random.cpp, models/tasks.cpp: TeacherTask). If the sandbox changes how it draws, the
replayed initial weights stop matching the run's stored params_init and the check says so first.
"""
import math

import numpy as np

_MASK = (1 << 64) - 1


class Mt19937_64:
    """std::mt19937_64 (the 64-bit Mersenne Twister of the C++ standard, seeded by one integer)."""

    N, M = 312, 156

    def __init__(self, seed):
        mt = [seed & _MASK]
        for i in range(1, self.N):
            mt.append((6364136223846793005 * (mt[-1] ^ (mt[-1] >> 62)) + i) & _MASK)
        self.mt, self.index = mt, self.N

    def _twist(self):
        mt, n, m = self.mt, self.N, self.M
        for i in range(n):
            x = (mt[i] & 0xFFFFFFFF80000000) | (mt[(i + 1) % n] & 0x7FFFFFFF)
            mt[i] = mt[(i + m) % n] ^ (x >> 1) ^ (0xB5026F5AA96619E9 if x & 1 else 0)
        self.index = 0

    def __call__(self):
        if self.index >= self.N:
            self._twist()
        y = self.mt[self.index]
        self.index += 1
        y ^= (y >> 29) & 0x5555555555555555
        y ^= (y << 17) & 0x71D67FFFEDA60000
        y ^= (y << 37) & 0xFFF7EEE000000000
        return (y ^ (y >> 43)) & _MASK


class Normal:
    """std::normal_distribution<double> of libstdc++: Marsaglia's polar method, one value kept for the next call."""

    def __init__(self, std=1.0):
        self.std, self.saved = std, None

    def __call__(self, rng):
        if self.saved is not None:
            value, self.saved = self.saved, None
            return value * self.std
        while True:
            # std::generate_canonical<double, 53> over a 64-bit generator: one draw / 2^64, below 1.
            x = 2.0 * min(float(rng()) / 18446744073709551616.0, math.nextafter(1.0, 0.0)) - 1.0
            y = 2.0 * min(float(rng()) / 18446744073709551616.0, math.nextafter(1.0, 0.0)) - 1.0
            r2 = x * x + y * y
            if r2 <= 1.0 and r2 != 0.0:
                break
        mult = math.sqrt(-2.0 * math.log(r2) / r2)
        self.saved = x * mult
        return y * mult * self.std


def random_normal(rng, rows, cols, std=1.0):
    """ad::random_normal: a fresh distribution, entries filled in column-major order."""
    normal = Normal(std)
    return np.array([normal(rng) for _ in range(rows * cols)]).reshape(cols, rows).T


def model_weights(seed, d_model, width):
    """models::Attention's W^Q, W^K, W^V drawn from ad::Rng(seed), std 1/sqrt(d_model)."""
    rng = Mt19937_64(seed)
    return [random_normal(rng, d_model, width, 1.0 / math.sqrt(d_model)) for _ in range(3)]


class TeacherDraws:
    """The teacher task's weights and its batches' X (stream 0: data seed 2*seed + 1)."""

    def __init__(self, seed, batch, n, d_model, width):
        self.teacher = model_weights(seed * 2 + 0x7EAC4E50, d_model, width)
        self.rng, self.shape = Mt19937_64(seed * 2 + 1), (batch, n, d_model)

    def next_x(self):
        b, n, d_model = self.shape
        return random_normal(self.rng, b * n, d_model).reshape(b, n, d_model)
