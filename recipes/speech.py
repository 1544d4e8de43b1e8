"""Train a speech recogniser (a CRNN read by CTC), then score it and write down clips.

    python recipes/speech.py                     # the bundled spoken commands, about 3 minutes
    python recipes/speech.py --data train.csv --val-data dev.csv --test-data test.csv
    python recipes/speech.py --data some-user/some-speech-dataset --split train

A table (csv/tsv/jsonl/parquet) names each clip's audio file (relative to the table) and
its transcript; a folder of audio files with one such table, or a Hub dataset with an audio
column, works too. Every flag of `textrnn train-speech` works here; those not given come
from the preset that fits the data (the speech task's recipe presets).
"""
import textrnn


def main(settings):
    # 1. Features and alphabet: log-mel filterbanks of each clip at the training clips' rate,
    #    the characters of the transcripts; the model: two convolutions that shorten time
    #    four times, a bidirectional LSTM, and a CTC head over the characters.
    run = settings.prepare()

    # 2. Training: the one loop, SpecAugment's masks on every training clip; the weights
    #    with the lowest validation character error rate are kept.
    result = textrnn.exit_if_interrupted(run.fit(show_progress=not settings.run.quiet))
    describe = textrnn.Transcriber.describe
    print(f"--- validation ---\n{describe(result['metrics'])}")
    if "test" in result:
        print(f"--- test ---\n{describe(result['test'])}")

    # 3. The saved run folder, as `textrnn transcribe` reads it: three held-out clips by a
    #    beam search of width 8, with when each word was said (a CTC forced alignment).
    recogniser = textrnn.load(result["run_dir"])
    d = settings.data
    source, split = ((d.test_data, d.test_split) if d.test_data else
                     (d.val_data, d.val_split) if d.val_data else (d.data, d.split))
    held = textrnn.load_transcribed(source, d.audio_column, d.text_column, split, d.data_config)
    clips = [held.clips[i] for i in range(min(3, len(held)))]
    for clip, found in zip(clips, recogniser.transcribe(clips, beam=8)):
        print(f"\n{clip}\n  heard: {found['text']}")
        print("  words: " + ", ".join(f"{w['word']} {w['start']:.2f}-{w['end']:.2f} s"
                                      for w in found["words"]))
    print(f"\nrun folder: {result['run_dir']}")


if __name__ == "__main__":
    settings = textrnn.parse_settings("speech", description=__doc__.split("\n")[0],
                                      preset=textrnn.presets.for_recipe("speech", "speech"))
    textrnn.run_guarded(main, settings, debug=settings.run.debug)
