"""Speech to text: audio reading, log-mel features against librosa, SpecAugment, CTC
decoding (greedy, prefix beam search against enumeration, LM fusion), error rates against
jiwer, the CRNN, and the task end to end on a few of the bundled clips."""
import csv
import itertools
import json
import math
import subprocess
import sys

import numpy as np
import pytest
import torch

import textrnn
from textrnn.checkpoint import load_training_state
from textrnn.config import EncoderConfig, ModelConfig
from textrnn.data.audio import Clip, change_speed, read_audio, resample, wav_bytes
from textrnn.data.bundled import SAMPLE_DATA
from textrnn.data.log_mel import log_mel, mel_filters
from textrnn.data.speech_encoding import SpeechEncoding, normal_text
from textrnn.data.transcribed import load_transcribed
from textrnn.errors import ConfigError, DataError
from textrnn.inference.ctc import align, greedy, prefix_beam_search
from textrnn.metrics import error_rates
from textrnn.models.crnn import spec_augment
from textrnn.tasks.speech import SpeechHeadConfig, fitting_speeds
from textrnn.training.config import TrainConfig

SAMPLE = SAMPLE_DATA / "speech_sample"


def tone(hz: float, rate: int, seconds: float = 1.0, amplitude: float = 0.5) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return (amplitude * np.sin(2 * np.pi * hz * t)).astype(np.float32)


def peak_hz(x: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.fft.rfftfreq(len(x), 1 / rate)[spectrum.argmax()])


# ---- audio --------------------------------------------------------------------------
def test_resampling_keeps_a_tones_frequency_and_the_reader_mixes_stereo_down(tmp_path):
    x = tone(440, 16000)
    for rate in (8000, 22050, 44100):
        assert abs(peak_hz(resample(x, 16000, rate), rate) - 440) < 3
    import soundfile
    stereo = np.stack([tone(440, 16000), tone(440, 16000, amplitude=0.1)], axis=1)
    soundfile.write(tmp_path / "s.flac", stereo, 16000)
    mono = read_audio(Clip(path=str(tmp_path / "s.flac")), rate=8000)
    assert len(mono) == 8000 and abs(np.abs(mono).max() - 0.3) < 0.02  # the channels' mean


def test_speed_perturbation_changes_pace_and_pitch_and_keeps_transcripts_placeable():
    x = tone(500, 8000)
    for speed in (0.9, 1.1):
        played = change_speed(x, speed)
        assert abs(len(played) - 8000 / speed) <= 1 and abs(peak_hz(played, 8000) - 500 * speed) < 5
    enc = SpeechEncoding.learn(["one two"], sample_rate=8000)
    ids = [enc.encode("one"), enc.encode("one two one two")]  # 3 and 15 output frames needed
    # 0.6 s gives 16 output frames at a time stride of 4, 14 at 1.1 times the speed
    assert fitting_speeds([0.6], ids[:1], enc, 4) == [(0.9, 1.0, 1.1)]
    assert fitting_speeds([0.6, 0.62], ids[1:] * 2, enc, 4) == [(0.9, 1.0), (0.9, 1.0, 1.1)]


@pytest.mark.parametrize("make,match", [
    (lambda p: None, "no such audio file"),
    (lambda p: p.write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk"), "is not audio this can read"),
    (lambda p: p.write_bytes(wav_bytes(np.zeros(800, np.float32), 8000)), "is silent"),
    (lambda p: p.write_bytes(wav_bytes(np.zeros(0, np.float32), 8000)), "no samples|is not audio"),
    (lambda p: p.write_bytes(wav_bytes(tone(300, 8000, 3.0), 8000)), "longer than the 2 s allowed"),
])
def test_bad_audio_is_one_line_naming_the_clip(tmp_path, make, match):
    path = tmp_path / "clip.wav"
    make(path)
    with pytest.raises(DataError, match=match) as err:
        read_audio(Clip(path=str(path)), 8000, max_seconds=2)
    assert "clip.wav" in str(err.value) and "\n" not in str(err.value)


def test_a_zero_sample_rate_in_the_header_is_refused(tmp_path):
    data = bytearray(wav_bytes(tone(300, 8000, 0.2), 8000))
    data[24:28] = (0).to_bytes(4, "little")  # the fmt chunk's sample rate
    (tmp_path / "zero.wav").write_bytes(bytes(data))
    with pytest.raises(DataError, match="zero.wav"):
        read_audio(Clip(path=str(tmp_path / "zero.wav")))


# ---- features -------------------------------------------------------------------------
def test_mel_filters_and_features_match_librosa_on_a_tone():
    librosa = pytest.importorskip("librosa")
    for rate, n_fft, mels in ((8000, 256, 40), (16000, 512, 80)):
        np.testing.assert_allclose(mel_filters(rate, n_fft, mels).numpy(),
                                   librosa.filters.mel(sr=rate, n_fft=n_fft, n_mels=mels), atol=1e-7)
    x = tone(440, 8000)
    ref = librosa.feature.melspectrogram(y=x, sr=8000, n_fft=256, hop_length=80, win_length=200,
                                         window="hann", center=True, pad_mode="reflect", n_mels=40)
    ours = log_mel(torch.from_numpy(x), 8000, 25, 10, 40)
    np.testing.assert_allclose(ours.numpy(), np.log(ref + 1e-6).T, atol=1e-3)
    assert int(ours.mean(0).argmax()) == int(np.argmin(np.abs(librosa.mel_frequencies(42, fmax=4000)[1:-1] - 440)))


def test_specaugment_masks_in_training_only():
    model = textrnn.build_model(speech_config(vocab=5)).eval()
    feats, lengths = torch.randn(2, 60, 40), torch.tensor([60, 45])
    torch.manual_seed(0)
    a = model(feats, lengths)[0]
    b = model(feats, lengths)[0]
    assert torch.equal(a, b)  # evaluation: no mask, no dropout
    masked = spec_augment(feats, lengths, 2, 8, 2, 0.2)
    assert (masked == 0).any() and not (feats == 0).any()


# ---- decoding and scores -----------------------------------------------------------------
def one_hot_frames(path: list[int], V: int, p: float = 0.9) -> np.ndarray:
    lp = np.full((len(path), V), math.log((1 - p) / (V - 1)))
    lp[np.arange(len(path)), path] = math.log(p)
    return lp


@pytest.mark.parametrize("path,expected", [([0, 1, 1, 0, 1, 2, 2, 0], [1, 1, 2]), ([0, 0, 0], []),
                                           ([3, 3, 3], [3]), ([1, 0, 1, 1, 2, 0, 2], [1, 1, 2, 2])])
def test_greedy_merges_repeats_and_drops_blanks(path, expected):
    ids, starts = greedy(one_hot_frames(path, 4))
    assert ids == expected and len(starts) == len(ids)
    assert prefix_beam_search(one_hot_frames(path, 4), beam=1) == expected  # beam 1 is greedy here
    spans = align(one_hot_frames(path, 4), expected)
    assert all(path[a] == i and path[b] == i for (a, b), i in zip(spans, expected))


def collapse(path) -> tuple:
    return tuple(s for s, prev in zip(path, (0,) + tuple(path)) if s and s != prev)


def test_a_wide_beam_finds_the_likeliest_transcript_by_enumeration():
    rng = np.random.default_rng(0)
    for _ in range(10):
        lp = np.log(rng.dirichlet(np.full(3, 0.7), size=5))
        totals = {}
        for path in itertools.product(range(3), repeat=5):
            key = collapse(path)
            totals[key] = totals.get(key, 0.0) + math.exp(sum(lp[t, s] for t, s in enumerate(path)))
        assert tuple(prefix_beam_search(lp, beam=64, prune=-1e9)) == max(totals, key=totals.get)


class UniformLM:
    def next_log_probs(self, keys):
        return [np.zeros(4) for _ in keys]


def test_lm_fusion_at_weight_zero_is_no_lm_and_its_scores_steer_the_beam():
    rng = np.random.default_rng(1)
    lp = np.log(rng.dirichlet(np.ones(4), size=12))
    plain = prefix_beam_search(lp, beam=8)
    assert prefix_beam_search(lp, beam=8, lm=UniformLM(), lm_weight=0.0) == plain

    class Likes3(UniformLM):
        def next_log_probs(self, keys):
            return [np.array([0.0, -20.0, -20.0, 0.0]) for _ in keys]
    assert set(prefix_beam_search(lp, beam=8, lm=Likes3(), lm_weight=1.0)) <= {3}


def test_error_rates_match_jiwer_after_the_same_normalisation():
    jiwer = pytest.importorskip("jiwer")
    refs = ["Seven, three ONE.", "the cat's mat", "a b c"]
    hyps = ["seven tree one one", "the cats mat", "a c"]
    r, h = [normal_text(x) for x in refs], [normal_text(x) for x in hyps]
    got = error_rates(r, h)
    assert got["wer"] == pytest.approx(jiwer.wer(r, h)) and got["cer"] == pytest.approx(jiwer.cer(r, h))
    assert r[0] == "seven three one" and r[1] == "the cat's mat"


# ---- the model and the task -----------------------------------------------------------------
def speech_config(vocab: int, **head) -> ModelConfig:
    return ModelConfig(task="speech", tokenizer="speech", vocab_size=vocab,
                       encoder=EncoderConfig(cell="lstm", bidirectional=True, embed_dim=32,
                                             hidden_size=32, num_layers=1, dropout=0.0),
                       head=SpeechHeadConfig(conv_channels=8, **head))


def test_the_crnn_overfits_one_batch_and_reads_a_clip_in_a_batch_as_alone():
    torch.manual_seed(0)
    model = textrnn.build_model(speech_config(vocab=6, freq_masks=0, time_masks=0))
    feats, lengths = torch.randn(3, 48, 40), torch.tensor([48, 40, 33])
    targets, target_lengths = torch.tensor([1, 2, 3, 4, 5, 1, 3, 2, 2, 4]), torch.tensor([5, 2, 3])
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(150):
        loss = model(feats, lengths, targets, target_lengths)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.05
    model.eval()
    lp, frames = model(feats, lengths)
    heard = [greedy(lp[b, :int(frames[b])].detach().double().numpy())[0] for b in range(3)]
    assert heard == [[1, 2, 3, 4, 5], [1, 3], [2, 2, 4]]
    alone, _ = model(feats[2:, :33], lengths[2:])
    torch.testing.assert_close(alone[0], lp[2, :int(frames[2])], atol=1e-5, rtol=1e-4)


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    """24 bundled training clips and 8 test clips, as tables with absolute paths."""
    root = tmp_path_factory.mktemp("speech")
    for name, n in (("train", 24), ("test", 8)):
        rows = list(csv.DictReader(open(SAMPLE / f"{name}.csv")))[:n]
        with open(root / f"{name}.csv", "w", newline="") as f:
            csv.writer(f).writerows([("path", "text")] + [(str(SAMPLE / r["path"]), r["text"]) for r in rows])
    return root


def tiny(steps: int, **kw) -> TrainConfig:
    return TrainConfig(**{"batch_size": 8, "lr": 3e-3, "max_steps": steps, "eval_every": steps,
                          "save_every": steps, "warmup_steps": 0, "schedule": "constant",
                          "device": "cpu", "seed": 0, **kw})


def data(clips, **kw):
    return textrnn.SpeechDataConfig(data=str(clips / "train.csv"), test_data=str(clips / "test.csv"),
                                    val_fraction=0.25, **kw)


def test_training_saves_a_run_that_loads_transcribes_alike_and_resumes_exactly(clips, tmp_path):
    cfg = speech_config(0)
    data = lambda clips: textrnn.SpeechDataConfig(  # noqa: E731  (speeds drawn alike when resumed)
        data=str(clips / "train.csv"), test_data=str(clips / "test.csv"), val_fraction=0.25,
        speed_perturb=True)
    result = textrnn.train("speech", data(clips), cfg, tiny(6), tmp_path / "straight", show_progress=False)
    assert {"wer", "cer", "examples"} <= set(result["test"]) and len(result["test"]["examples"]) == 3
    encoding = json.loads((tmp_path / "straight" / "speech.json").read_text())
    assert encoding["sample_rate"] == 8000 and " " in encoding["alphabet"]
    textrnn.train("speech", data(clips), cfg, tiny(3), tmp_path / "resumed", show_progress=False)
    textrnn.train("speech", data(clips), cfg, tiny(6), tmp_path / "resumed", resume=True, show_progress=False)
    a, b = (load_training_state(tmp_path / d) for d in ("straight", "resumed"))
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])
    run = textrnn.load(tmp_path / "straight")
    clip = str(SAMPLE / "clips" / "test_000.ogg")
    first = run.transcribe([clip])
    assert first == textrnn.load(tmp_path / "straight").transcribe([clip])
    samples = run.samples(clip)
    assert run.transcribe([(np.stack([samples, samples], 1), 8000)]) == first  # stereo, a rate


def test_a_hub_dataset_with_an_audio_column_is_read_without_decoding(tmp_path):
    datasets = pytest.importorskip("datasets")
    rows = {"audio": [{"bytes": wav_bytes(tone(300 + 100 * i, 16000, 0.5), 16000), "path": f"c{i}.wav"}
                      for i in range(3)], "sentence": ["one two", "three", "four five"]}
    (tmp_path / "hub" / "data").mkdir(parents=True)
    datasets.Dataset.from_dict(rows).cast_column("audio", datasets.Audio(decode=False)).to_parquet(
        tmp_path / "hub" / "data" / "train-00000-of-00001.parquet")
    got = load_transcribed(tmp_path / "hub")
    assert got.texts == rows["sentence"] and "c1.wav" in str(got.clips[1])
    assert abs(peak_hz(read_audio(got.clips[1], 8000), 8000) - 400) < 5


def test_a_folder_of_clips_with_one_transcript_table(tmp_path):
    for i in range(2):
        (tmp_path / f"c{i}.wav").write_bytes(wav_bytes(tone(300, 8000, 0.3), 8000))
    (tmp_path / "transcripts.tsv").write_text("file\ttext\nc0.wav\tone\nc1.wav\ttwo\n")
    got = load_transcribed(tmp_path)
    assert got.texts == ["one", "two"] and str(got.clips[1]).endswith("c1.wav")
    (tmp_path / "more.csv").write_text("path,text\nc0.wav,one\n")
    with pytest.raises(DataError, match="2 transcript tables"):
        load_transcribed(tmp_path)


def test_a_transcript_the_frames_cannot_hold_names_the_clip(clips, tmp_path):
    rows = list(csv.reader(open(clips / "train.csv")))
    rows[3][1] = "one two three four five six seven eight nine " * 3
    with open(tmp_path / "long.csv", "w", newline="") as f:
        csv.writer(f).writerows(rows)
    with pytest.raises(DataError, match=r"train_002.ogg: its transcript needs \d+ output frames"):
        textrnn.train("speech", textrnn.SpeechDataConfig(data=str(tmp_path / "long.csv")),
                      speech_config(0), tiny(1), tmp_path / "run", show_progress=False)


def test_an_lm_of_another_alphabet_or_of_words_is_one_line(clips, tmp_path):
    textrnn.train("speech", data(clips), speech_config(0), tiny(1), tmp_path / "asr", show_progress=False)
    (tmp_path / "text.txt").write_text("one two three four five\n" * 40)
    for kind, match in (("char", "never saw"), ("word", "word-level")):
        textrnn.train("lm", textrnn.DataConfig(data=str(tmp_path / "text.txt"), tokenizer=kind),
                      ModelConfig(encoder=EncoderConfig(embed_dim=8, hidden_size=8, num_layers=1)),
                      TrainConfig(max_steps=1, batch_size=2, bptt=8, device="cpu"), tmp_path / kind,
                      show_progress=False)
        with pytest.raises(ConfigError, match=match):
            textrnn.load(tmp_path / "asr").transcribe([str(SAMPLE / "clips" / "test_000.ogg")], beam=4,
                                                      lm=str(tmp_path / kind))


def test_the_recipe_and_the_transcribe_command_end_to_end(clips, tmp_path, capsys, monkeypatch):
    import runpy
    from textrnn import cli
    recipe = str(SAMPLE_DATA.parent / "recipes" / "speech.py")  # run as `python recipes/speech.py`
    monkeypatch.setattr(sys, "argv", [recipe, "--data", str(clips / "train.csv"), "--test-data",
                                      str(clips / "test.csv"), "--max-steps", "4", "--hidden-size", "16",
                                      "--embed-dim", "16", "--conv-channels", "4", "--out",
                                      str(tmp_path / "run"), "--quiet"])
    runpy.run_path(recipe, run_name="__main__")
    out = capsys.readouterr().out
    assert "--- test ---" in out and "WER" in out and out.count("heard:") >= 3
    clip = str(SAMPLE / "clips" / "test_001.ogg")
    cli.main(["transcribe", str(tmp_path / "run"), clip, "--json", "--beam", "4"])
    assert json.loads(capsys.readouterr().out)["file"] == clip
    bad = subprocess.run([sys.executable, "-m", "textrnn", "transcribe", str(tmp_path / "run"),
                          str(tmp_path / "missing.wav")], capture_output=True, text=True, timeout=120)
    assert bad.returncode != 0 and bad.stderr.strip().splitlines() == [
        f"error: {tmp_path / 'missing.wav'}: no such audio file; check the path"]


def test_the_encoding_file_holds_the_features_and_the_alphabet(tmp_path):
    enc = SpeechEncoding.learn(["Call ONE, two!"], sample_rate=8000)
    assert enc.alphabet == sorted(set("call one two")) and enc.get_vocab_size() == len(enc.alphabet) + 1
    (tmp_path / "speech.json").write_text(enc.to_str())
    back = SpeechEncoding.from_file(tmp_path / "speech.json")
    assert back.encode("call two?") == enc.encode("call two") and back.decode(back.encode("one")) == "one"
    assert enc.encode("call xylophone") == enc.encode("call loone")  # unknown letters left out
    assert enc.unknown("xylophone") == {"x", "y", "p", "h"}
