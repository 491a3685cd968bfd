"""A notebook-first course kit for image classification with PyTorch and fastai

Modules:

- `course_kit.augment`: The writeups' transforms (normalisations, resizes, crops, flips, rotations, colour changes, gamma) in two forms: torchvision v2 pipelines for one image at a time, and batch versions that augment a whole batch at once on the training device.
- `course_kit.checkpoints`: Atomic checkpoints that hold everything a run needs to go on (weights, optimiser, schedule, early stopping, the random generators, the history), and the callbacks that write them and go on from them, bit for bit where an uninterrupted run would be.
- `course_kit.cli`: `course-kit report run ...` runs report notebooks with papermill, checks their parameters before a kernel starts, writes an executed copy and an HTML page of each, skips a report already run with the same parameters and code, and writes the summary (`10b_summary`).
- `course_kit.core`: The few things every other module needs: where files go, which device to use, how to make a run repeatable, and errors that tell you what to do.
- `course_kit.data`: Every data set of the course as uint8 image tensors with labels, split into train/valid/test with a seed, and served in batches by a loader that plugs into fastai.
- `course_kit.datasets`: Where the course's data sets come from (CIFAR-10/100, Fashion-MNIST, MNIST, Caltech101), found in files you placed by hand, in system packages or through a checked download, and read into the `Splits` of `01_data`.
- `course_kit.evaluate`: From a trained `Learner` and a loader to predictions, then accuracy (overall, per class, top-k), confusion matrices, ROC curves, ensembles of several models and test-time augmentation. Each number is first computed by hand in plain torch, then by scikit-learn, and the two must agree.
- `course_kit.fixtures`: Every reader of `01a_datasets` and `01b_folders` is tested offline through the same code that reads a real download. For that the kit writes tiny copies of each data set in its real on-disk format.
- `course_kit.folders`: Image folders (report A's layout) and Caltech101 (report E): images of any size and colour mode, one file each, scanned with torchvision, decoded once into the `ImageSet` of `01_data` and cached, with every bad file named or counted.
- `course_kit.grading`: Every lesson ends with exercises that check themselves. This module makes the copies students work in, and grades a folder of completed copies in one batch with papermill.
- `course_kit.jobs`: A report, a sweep trial or a graded notebook is one *job*. By default jobs run one after another in this process; with submitit they run as local processes (one GPU each) or as a SLURM job array.
- `course_kit.learner`: A training loop in plain PyTorch, the same loop run by fastai's `Learner`, and the kit's way onto it: `make_learner(dls, model, recipe)` and `fit(learn, recipe)`.
- `course_kit.models`: The networks the students built themselves, as plain `nn.Module`s with explicit arguments, and `get_model`: one way to create any model of the kit by name, from scratch or by transfer.
- `course_kit.plots`: The figures of the writeups, drawn with seaborn: training curves of one run and of several, confusion matrices side by side, ROC curves, a grid of predictions, an ablation chart and a sweep.
- `course_kit.recipe`: A `Recipe` holds everything about training that is not data or model: optimiser, learning rate, schedule, epochs, phases, precision. fastai's `Learner` carries it out with a few callbacks, one idea each, which this lesson builds and checks.
- `course_kit.report`: A report is a notebook in `reports/` with a `parameters` cell, run by papermill. Inside it, the kit checks the parameters, knows the profile, runs each experiment of the writeup and records one honest row per experiment: the writeup's claimed number beside the reproduced one.
- `course_kit.runs`: Every training run leaves one JSON file that says what was run and what it measured: recipe, data set and split, model and hyperparameters, seed, per-epoch history, final metrics, wall time, images per second, device and library versions. One row builder puts a writeup's claimed number beside the reproduced one, and a small sweep helper trains and records many runs.
- `course_kit.submissions`: A Kaggle-style CSV (report B) or a file-name-and-label list (report A) from the predictions of an unlabelled test set, and a checker that reads a submission back and lists everything wrong with it.
- `course_kit.summary`: After a batch of reports, `write_summary` gathers the claimed-vs-reproduced rows of every report into `summary.json`, `summary.md` and `index.html`, the page an instructor opens first.
- `course_kit.training`: `train(dls, model, recipe)` is the kit's one way to train: it trains (with checkpoints and resume when given a folder), evaluates the chosen weights on valid and test, and records the run. The fast recipe is a recipe like any other, trained by the same call.
- `course_kit.transfer`: One entry point over torchvision's ImageNet models: a new head for your classes, weights that load offline, freezing by named groups, parameter groups for discriminative learning rates, and LoRA adapters.
- `course_kit.writeups`: B's ablation table and final network, B's 7x augmented training set, C's digit-sum data set, C's tile- sum model and its autoencoder step: the parts of the kit that only one writeup uses, each named by what it is."""

__version__ = "0.0.1"
