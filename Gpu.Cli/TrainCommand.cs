using System.CommandLine;
using System.Globalization;
using Gpu.Training;

namespace Gpu.Cli;

/// <summary>The flags of `train` (documented in docs/training.md) and their parsing.</summary>
internal static class TrainCommand
{
    public static Command Create(CommandContext context)
    {
        var data = new Option<string?>("--data") { Description = "Training data: a CSV (with a header line) or Parquet file, a folder of them, or a pattern such as 'data/part-*.csv' (files in sorted order, same columns).", HelpName = "PATH" };
        var text = new Option<string?>("--text")
        {
            Description = "Token data: the file's bytes are the tokens (vocabulary 256, any file, UTF-8 or not); a folder (its .txt files) or a pattern. Needs --context.",
            HelpName = "PATH",
        };
        var tokens = new Option<string?>("--tokens")
        {
            Description = "Token data: llm.c's token files (a 256-int32 header, magic 20240520, then uint16 tokens); a file, a folder (its .bin files) or a pattern. Needs --context.",
            HelpName = "PATH",
        };
        var contextLength = new Option<int?>("--context")
        {
            Description = "Tokens per sample for --text or --tokens: window i holds tokens [i T, i T + T) and learns the next token at each.",
            HelpName = "T",
        };
        var val = new Option<string?>("--val") { Description = "Validation data: file(s) as for --data (with the same columns), --text or --tokens.", HelpName = "PATH" };
        var valSplit = new Option<double?>("--val-split") { Description = "Hold out this fraction for validation: seeded rows of --data, the last windows of token data.", HelpName = "F" };
        var target = new Option<string?>("--target") { Description = "Target column names, comma-separated [last column].", HelpName = "NAMES" };
        var layers = new Option<string?>("--layers") { Description = "MLP shorthand: hidden layer widths, comma-separated; empty for none [20].", HelpName = "WIDTHS" };
        var model = new Option<string?>("--model")
        {
            Description = "Any model, as comma-separated layers (instead of --layers), e.g. \"conv(16,3,padding=1),relu,maxpool(2),flatten,linear(10)\". "
                + $"Words: {string.Join(", ", Architecture.Usages)}. Input channels and features follow from --input-shape; the last layer's outputs "
                + "must match the targets (the classes for --loss ce).",
            HelpName = "SPEC",
        };
        var inputShape = new Option<string?>("--input-shape")
        {
            Description = "The shape one CSV row holds, e.g. 1,8,8 for 8x8 grey images (pixels in C, H, W order, as PyTorch flattens them) [the feature count].",
            HelpName = "C,H,W",
        };
        var loss = new Option<string>("--loss") { Description = $"Loss: {Describe(Registry<LossEntry>.All)}.", DefaultValueFactory = _ => "mse" }
            .AcceptOnlyFromAmong([.. Registry<LossEntry>.Names]);
        var optimizer = new Option<string>("--optimizer") { Description = $"Optimizer: {Describe(Registry<OptimizerEntry>.All)}.", DefaultValueFactory = _ => "adam" }
            .AcceptOnlyFromAmong([.. Registry<OptimizerEntry>.Names]);
        var lr = new Option<double>("--lr") { Description = "Learning rate (the base rate a schedule scales).", DefaultValueFactory = _ => 1e-3 };
        var schedule = new Option<string?>("--lr-schedule")
        {
            Description = "Learning-rate schedule, evaluated before every optimizer step (s: the step from 0, S: the run's steps, e: the epoch from 0): "
                + string.Join("; ", Registry<ScheduleEntry>.All.Select(e => $"{e.Usage}: {e.Formula}")) + " [constant].",
            HelpName = "SCHEDULE",
        };
        var hyperparameters = new HyperparameterFlags();
        var l1 = new Option<double>("--l1") { Description = "L1 penalty l1*sum|w| added to the loss.", DefaultValueFactory = _ => 0 };
        var l2 = new Option<double>("--l2") { Description = "L2 penalty l2*sum w^2 added to the loss.", DefaultValueFactory = _ => 0 };
        var clipNorm = new Option<double?>("--clip-grad-norm")
        {
            Description = "Scale the complete gradient (after accumulation, the all-reduce and L1/L2) to a total 2-norm of at most MAX before each step (torch.nn.utils.clip_grad_norm_) [off].",
            HelpName = "MAX",
        };
        var clipValue = new Option<double?>("--clip-grad-value") { Description = "Clamp every gradient to [-V, V] before each step (torch.nn.utils.clip_grad_value_) [off].", HelpName = "V" };
        var accumulate = new Option<int>("--accumulate")
        {
            Description = "Batches of --batch-size per optimizer step: K batches of B rows step as one batch of K*B rows (gradient accumulation) [1].",
            DefaultValueFactory = _ => 1,
            HelpName = "K",
        };
        var epochs = new Option<int>("--epochs") { Description = "Passes over the training data.", DefaultValueFactory = _ => 100 };
        var batchSize = new Option<int>("--batch-size") { Description = "Rows per step; 0 = full batch.", DefaultValueFactory = _ => 0, HelpName = "N" };
        var shuffle = new Option<bool>("--shuffle") { Description = "Reshuffle rows every epoch [on when batching]." };
        var noShuffle = new Option<bool>("--no-shuffle") { Description = "Keep the rows in file order." };
        var patience = new Option<int?>("--patience") { Description = "Stop after N epochs without improvement [off].", HelpName = "N" };
        var seed = new Option<int>("--seed") { Description = "Seeds initialisation, splitting and shuffling.", DefaultValueFactory = _ => 0 };
        var device = new Option<string?>("--device") { Description = "auto, cpu, cuda or opencl [GPU_DEVICE, else auto]." }
            .AcceptOnlyFromAmong("auto", "cpu", "cuda", "opencl");
        var init = new Option<string?>("--init") { Description = "Start from these weights (safetensors); names and shapes must match.", HelpName = "PATH" };
        var save = new Option<string?>("--save") { Description = "Save the trained model (safetensors, loadable by PyTorch).", HelpName = "PATH" };
        var checkpoint = new Option<string?>("--checkpoint") { Description = "Write a training checkpoint (weights and optimizer state) here.", HelpName = "PATH" };
        var checkpointEvery = new Option<int?>("--checkpoint-every") { Description = "Epochs between checkpoints [10].", HelpName = "N" };
        var resume = new Option<string?>("--resume") { Description = "Continue training from a checkpoint.", HelpName = "PATH" };
        var report = new Option<string?>("--report") { Description = "Write a JSON report (losses, time, throughput, energy).", HelpName = "PATH" };
        var plot = new Option<string?>("--plot")
        {
            Description = "Draw the loss curves (validation too; the learning rate and a classifier's accuracy on right-hand axes) to this .png or .svg, redrawn during the run.",
            HelpName = "FILE",
        };
        var tensorBoard = new Option<string?>("--tensorboard")
        {
            Description = "Write TensorBoard event files (loss, val_loss, val_accuracy, lr, grad_norm, samples/s, joules per optimizer step) to this folder: tensorboard --logdir DIR.",
            HelpName = "DIR",
        };
        var profile = new Option<bool>("--profile") { Description = "Time every op (device events on GPUs, the clock on the host) and print a table per op after training; in the report too." };
        var carbon = new Option<double?>("--carbon-intensity")
        {
            Description = "Grams of CO2 per kWh of your electricity, to turn measured joules into grams in the summary and report [none: not assumed].",
            HelpName = "G",
        };
        var logEvery = new Option<int>("--log-every") { Description = "Print the losses every N epochs.", DefaultValueFactory = _ => 10, HelpName = "N" };
        var deviceData = new Option<double?>("--device-data-mb")
        {
            Description = "Most MB of data kept on the device; the rest stays in host memory and each batch is copied over [half a GPU's memory; 0 on the CPU].",
            HelpName = "MB",
        };
        var standardize = new Option<bool>("--standardize") { Description = "Standardise features (statistics saved with the model)." };
        var standardizeTarget = new Option<bool>("--standardize-target")
        {
            Description = "Regression (mse, huber): train on standardised targets, (y - mean) / std from the training rows, saved with the model; predict, evaluate and export answer in the targets' units. Losses are then in standard units.",
        };
        var distributed = new Option<string>("--distributed")
        {
            Description = "auto: under mpirun -np N (Open MPI) or mpiexec (MPICH), train data-parallel on N ranks; off: one process regardless.",
            DefaultValueFactory = _ => "auto",
        }.AcceptOnlyFromAmong("auto", "off");

        var command = new Command("train", "Train a model (an MLP, or any --model). With no flags, runs the reference example: 100 random samples of 10 features, MLP 10-20-1, MSE, Adam lr 1e-3, 100 epochs.")
        {
            data, text, tokens, contextLength, val, valSplit, target, layers, model, inputShape, loss, optimizer, lr, schedule, l1, l2, clipNorm, clipValue, epochs, batchSize, accumulate,
            shuffle, noShuffle, patience, seed, device, init, save, checkpoint, checkpointEvery, resume, report, plot, tensorBoard, profile, carbon, logEvery, standardize, standardizeTarget, distributed, deviceData,
        };
        foreach (var option in hyperparameters.Options)
            command.Options.Add(option);
        command.SetAction(parse =>
        {
            if (parse.GetValue(shuffle) && parse.GetValue(noShuffle))
                throw new UsageException("--shuffle and --no-shuffle cannot be used together.");
            var settings = new TrainSettings
            {
                Data = parse.GetValue(data),
                Text = parse.GetValue(text),
                Tokens = parse.GetValue(tokens),
                Context = parse.GetValue(contextLength),
                Val = parse.GetValue(val),
                ValSplit = parse.GetValue(valSplit),
                Targets = SplitList(parse.GetValue(target)),
                Layers = parse.GetValue(layers) is { } widths ? ParseLayers(widths) : null,
                Model = parse.GetValue(model),
                InputShape = parse.GetValue(inputShape) is { } shape ? ParseShape(shape) : null,
                Loss = parse.GetValue(loss)!,
                Optimizer = parse.GetValue(optimizer)!,
                Lr = parse.GetValue(lr),
                Hyperparameters = hyperparameters.Read(parse),
                LrSchedule = parse.GetValue(schedule),
                L1 = parse.GetValue(l1),
                L2 = parse.GetValue(l2),
                ClipGradNorm = parse.GetValue(clipNorm),
                ClipGradValue = parse.GetValue(clipValue),
                Epochs = parse.GetValue(epochs),
                BatchSize = parse.GetValue(batchSize),
                Accumulate = parse.GetValue(accumulate),
                Shuffle = parse.GetValue(shuffle) ? true : parse.GetValue(noShuffle) ? false : null,
                Patience = parse.GetValue(patience),
                Seed = parse.GetValue(seed),
                Device = parse.GetValue(device),
                Init = parse.GetValue(init),
                Save = parse.GetValue(save),
                Checkpoint = parse.GetValue(checkpoint),
                CheckpointEvery = parse.GetValue(checkpointEvery),
                Resume = parse.GetValue(resume),
                Report = parse.GetValue(report),
                Plot = parse.GetValue(plot),
                TensorBoard = parse.GetValue(tensorBoard),
                Profile = parse.GetValue(profile),
                CarbonIntensity = parse.GetValue(carbon),
                LogEvery = parse.GetValue(logEvery),
                Standardize = parse.GetValue(standardize),
                StandardizeTarget = parse.GetValue(standardizeTarget),
                Distributed = parse.GetValue(distributed)!,
                DeviceDataMegabytes = parse.GetValue(deviceData),
                Given = command.Options.Where(o => parse.GetResult(o) is { Implicit: false }).Select(o => o.Name).ToHashSet(),
            };
            settings.Validate();
            if (settings.Resume is null) // a resumed run's loss and optimizer are the checkpoint's: checked once it is read
                HyperparameterFlags.Check(settings.Hyperparameters, Registry<LossEntry>.Get(settings.Loss, "loss"), Registry<OptimizerEntry>.Get(settings.Optimizer, "optimizer"));
            return new TrainJob(context, settings).Run();
        });
        return command;
    }

    // "mse (torch.nn.MSELoss, for regression), ...": what a registry holds, for help texts.
    private static string Describe(IEnumerable<RegistryEntry> entries) => string.Join(", ", entries.Select(e => $"{e.Name} ({e.Description})"));

    private static List<string> SplitList(string? text) =>
        text is null ? [] : [.. text.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)];

    // Widths separated by commas, each a positive integer; an empty text means no hidden layer.
    private static List<int> ParseLayers(string text)
    {
        var widths = new List<int>();
        if (text.Trim().Length == 0)
            return widths;
        var parts = text.Split(',');
        for (int i = 0; i < parts.Length; i++)
        {
            string part = parts[i].Trim();
            if (part.Length == 0)
                throw new UsageException($"--layers takes positive integer widths separated by commas (e.g. 20,20), but width {i + 1} of '{text}' is empty.");
            if (!int.TryParse(part, NumberStyles.Integer, CultureInfo.InvariantCulture, out int width) || width < 1)
                throw new UsageException($"--layers takes positive integer widths separated by commas (e.g. 20,20), but width {i + 1} of '{text}' is '{part}'.");
            widths.Add(width);
        }

        return widths;
    }

    private static List<int> ParseShape(string text)
    {
        var dims = new List<int>();
        foreach (var part in text.Split(','))
        {
            if (!int.TryParse(part.Trim(), NumberStyles.Integer, CultureInfo.InvariantCulture, out int d) || d < 1)
                throw new UsageException($"--input-shape takes positive integers separated by commas (e.g. 1,8,8 or 3,32,32), got '{text}'.");
            dims.Add(d);
        }

        return dims;
    }
}
