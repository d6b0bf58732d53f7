"""Trainable parameter counts equal those of the official TF1 network.

Convention: trainable variables only.  In the official graph the spectral-norm
vectors ``u`` (ops.spectral_normed_weight, trainable=False), the CBN
``mean_recorder``/``var_recorder`` and tf.contrib batch_norm's moving statistics
are non-trainable; they are excluded here as well.

Official layer shapes (hubert0527/COCO-GAN, ops.py and models/*.py), with
d = z_dim + coord_dim = 128 + 2 = 130 and ngf = ndf = 64:
  snlinear(in, out):    w [in, out] + b [out]                 -> in*out + out
  snconv2d k x k:       w [k, k, cin, cout] + b [cout]        -> k*k*cin*cout + cout
  G _cbn(x with ch):    2 x slim.fully_connected(y, ch)       -> 2*(d*ch + ch) = 2*ch*131
  ops.batch_norm(ch):   contrib batch_norm scale=True, center -> gamma + beta = 2*ch
G residual block (cin -> cout): cbn(cin) + conv3(cin,cout) + cbn(cout) + conv3(cout,cout) + conv1(cin,cout)
D residual block (cin -> cout):           conv3(cin,cout) +             conv3(cout,cout) + conv1(cin,cout)
"""

import types

import pytest

from models.build import build_models, count_params

# ---------------------------------------------------------------- generator
# g_z_fc: 130*4096 + 4096 = 532,480 + 4,096 = 536,576   (4096 = 2*2*16*ngf)
# block 0 (1024 -> 512): cbn 2*1024*131 = 268,288; conv3 9*1024*512+512 = 4,719,104;
#                        cbn 2*512*131 = 134,144;  conv3 9*512*512+512 = 2,359,808;
#                        conv1 1024*512+512 = 524,800                      -> 8,006,144
# block 1 (512 -> 256):  134,144 + (9*512*256+256 = 1,179,904) + (2*256*131 = 67,072)
#                        + (9*256*256+256 = 590,080) + (512*256+256 = 131,328) -> 2,102,528
# block 2 (256 -> 128):  67,072 + (9*256*128+128 = 295,040) + (2*128*131 = 33,536)
#                        + (9*128*128+128 = 147,584) + (256*128+128 = 32,896)  ->   576,128
# block 3 (128 -> 64):   33,536 + (9*128*64+64 = 73,792) + (2*64*131 = 16,768)
#                        + (9*64*64+64 = 36,928) + (128*64+64 = 8,256)         ->   169,280
# block 4 (64 -> 64):    16,768 + 36,928 + 16,768 + 36,928 + (64*64+64 = 4,160) ->  111,552
# g_last_bn(c) = 2c;  g_last_conv_2: 9*c*3 + 3
# micro 16 (blocks 0-2, c=128): 536,576 + 8,006,144 + 2,102,528 + 576,128 + 256 + 3,459
#                               = 11,225,091
# micro 32 (blocks 0-3, c=64):  536,576 + 8,006,144 + 2,102,528 + 576,128 + 169,280 + 128 + 1,731
#                               = 11,392,515
# micro 64 (blocks 0-4, c=64):  11,392,515 + 111,552 = 11,504,067
# ------------------------------------------------------------ discriminator
# plans (e92e624): macro 32 -> 64,256,512,512; 64 -> 64,128,256,512,512; 128 -> 64,64,128,256,512,512
# block (3 -> 64):     (9*3*64+64 = 1,792) + (9*64*64+64 = 36,928) + (3*64+64 = 256)       ->    38,976
# block (64 -> 64):    36,928 + 36,928 + 4,160                                             ->    78,016
# block (64 -> 128):   (9*64*128+128 = 73,856) + (9*128*128+128 = 147,584) + 8,320         ->   229,760
# block (64 -> 256):   (9*64*256+256 = 147,712) + 590,080 + (64*256+256 = 16,640)          ->   754,432
# block (128 -> 256):  (9*128*256+256 = 295,168) + 590,080 + (128*256+256 = 33,024)        ->   918,272
# block (256 -> 512):  (9*256*512+512 = 1,180,160) + 2,359,808 + (256*512+512 = 131,584)   -> 3,671,552
# block (512 -> 512):  2,359,808 + 2,359,808 + (512*512+512 = 262,656)                     -> 4,982,272
# main_steam_out: 512*1 + 1 = 513;  y_emb: 2*512 + 512 = 1,536   -> 2,049
# macro 32:  38,976 + 754,432 + 3,671,552 + 4,982,272 + 2,049                        = 9,449,281
# macro 64:  38,976 + 229,760 + 918,272 + 3,671,552 + 4,982,272 + 2,049              = 9,842,881
# macro 128: 38,976 + 78,016 + 229,760 + 918,272 + 3,671,552 + 4,982,272 + 2,049     = 9,920,897
# -------------------------------------------------------------------- heads
# fc1 512*128 + 128 = 65,664;  bn1 2*128 = 256
# spatial head fc2: 128*2 + 2 = 258      -> 66,178
# content head fc2: 128*128 + 128 = 16,512 -> 82,432
OFFICIAL = {
    "CelebA_64x64_N2M2S32": dict(micro=16, macro=32, generator=11_225_091, discriminator=9_449_281),
    "CelebA_128x128_N2M2S64": dict(micro=32, macro=64, generator=11_392_515, discriminator=9_842_881),
    "LSUN_256x256_N2M2S128": dict(micro=64, macro=128, generator=11_504_067, discriminator=9_920_897),
}
OFFICIAL_HEADS = dict(spatial_head=66_178, content_head=82_432)

FULL_WIDTH = types.SimpleNamespace(
    z_dim=128, spatial_dim=2, g_extra_layers=0, d_extra_layers=0, ngf_base=64, ndf_base=64, aux_dim=128
)


def _official_from_shapes(micro, macro):
    """The same counts recomputed from the official shape rules (cross-check of the comments)."""
    d, ngf = 130, 64
    conv = lambda k, cin, cout: k * k * cin * cout + cout
    cbn = lambda ch: 2 * (d * ch + ch)
    g = d * 4 * 16 * ngf + 4 * 16 * ngf
    cin = 16 * ngf
    n = micro.bit_length() - 2  # log2(micro) - 1
    mults = ([8, 4, 2] + [1] * max(0, n - 3))[:n]
    for m in mults:
        cout = ngf * m
        g += cbn(cin) + conv(3, cin, cout) + cbn(cout) + conv(3, cout, cout) + conv(1, cin, cout)
        cin = cout
    g += 2 * cin + conv(3, cin, 3)
    n = macro.bit_length() - 2
    mults = [1] * (n - 4) + [2, 4, 8, 8] if n > 4 else [1] + [2, 4, 8, 8][-n:][1:]
    dd, cin = 0, 3
    for m in mults:
        cout = 64 * m
        dd += conv(3, cin, cout) + conv(3, cout, cout) + conv(1, cin, cout)
        cin = cout
    dd += (512 + 1) + (2 * 512 + 512)
    return g, dd


@pytest.mark.parametrize("name", sorted(OFFICIAL))
def test_parameter_counts_match_official(name):
    ref = OFFICIAL[name]
    assert _official_from_shapes(ref["micro"], ref["macro"]) == (ref["generator"], ref["discriminator"])
    models = build_models(FULL_WIDTH, ref["micro"], ref["macro"])
    counts = {k: count_params(m) for k, m in models.items()}
    assert counts == {"generator": ref["generator"], "discriminator": ref["discriminator"], **OFFICIAL_HEADS}
    if name == "CelebA_64x64_N2M2S32":
        # Non-trainable state of G, micro 16: u vectors 4096 + 3*(512+256+128) + 3 = 6,787;
        # CBN moving stats 2*(1024+512) + 2*(512+256) + 2*(256+128) = 5,376; last BN 2*128 = 256.
        g = models["generator"]
        assert count_params(g, trainable_only=False) - count_params(g) == 6_787 + 5_376 + 256
