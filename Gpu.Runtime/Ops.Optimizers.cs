using Gpu.Kernels;

namespace Gpu.Runtime;

public static partial class Ops
{
    /// <summary>
    /// One fused Adam/AdamW step over flat buffers of equal length: parameters, gradients, first and
    /// second moments, and the running maximum (amsgrad only; may be null otherwise). One launch,
    /// whatever the number of tensors the buffers hold. <paramref name="step"/> counts from 1; the
    /// settings are read at this call, so a schedule may change lr and beta1 from step to step.
    /// </summary>
    public static void AdamStep(Tensor parameters, Tensor gradients, Tensor m, Tensor v, Tensor? vmax, long step, AdamSettings settings)
    {
        const string op = nameof(AdamStep);
        settings.Validate(op);
        if (step < 1)
            throw new ArgumentOutOfRangeException(nameof(step), step, $"{op}: step counts from 1, got {step}.");
        var d = CheckOptimizerBuffers(op, parameters, gradients, m, "exp_avg");
        CheckOptimizerBuffer(op, d, parameters, v, "exp_avg_sq");
        if (settings.Amsgrad)
        {
            if (vmax is null)
                throw new ArgumentNullException(nameof(vmax), $"{op}: amsgrad needs a max_exp_avg_sq buffer.");
            CheckOptimizerBuffer(op, d, parameters, vmax, "max_exp_avg_sq");
        }

        var rule = new AdamRule
        {
            Lr = (float)settings.Lr,
            Beta1 = (float)settings.Beta1,
            OneMinusBeta1 = (float)(1 - settings.Beta1),
            Beta2 = (float)settings.Beta2,
            OneMinusBeta2 = (float)(1 - settings.Beta2),
            Eps = (float)settings.Eps,
            WeightDecay = (float)settings.WeightDecay,
            Decoupled = settings.Decoupled ? 1 : 0,
            Amsgrad = settings.Amsgrad ? 1 : 0,
            StepSize = (float)(settings.Lr / (1 - Math.Pow(settings.Beta1, step))),
            BiasCorrection2Sqrt = (float)Math.Sqrt(1 - Math.Pow(settings.Beta2, step)),
        };
        if (parameters.Length > 0)
            d.Dispatch().OptimizerStep(rule, parameters, gradients, m, v, settings.Amsgrad ? vmax : null);
    }

    /// <summary>
    /// One fused SGD step. <paramref name="momentumBuffer"/> is needed when momentum &gt; 0;
    /// <paramref name="firstStep"/> initialises it with the gradient, as PyTorch does on the buffer's first step.
    /// </summary>
    public static void SgdStep(Tensor parameters, Tensor gradients, Tensor? momentumBuffer, bool firstStep, SgdSettings settings)
    {
        const string op = nameof(SgdStep);
        settings.Validate(op);
        Device d;
        if (settings.Momentum > 0)
        {
            if (momentumBuffer is null)
                throw new ArgumentNullException(nameof(momentumBuffer), $"{op}: momentum > 0 needs a momentum_buffer.");
            d = CheckOptimizerBuffers(op, parameters, gradients, momentumBuffer, "momentum_buffer");
        }
        else
        {
            d = CheckOptimizerBuffers(op, parameters, gradients, null, "");
        }

        var rule = new SgdRule
        {
            Lr = (float)settings.Lr,
            Momentum = (float)settings.Momentum,
            OneMinusDampening = (float)(1 - settings.Dampening),
            WeightDecay = (float)settings.WeightDecay,
            Nesterov = settings.Nesterov ? 1 : 0,
            FirstStep = firstStep ? 1 : 0,
        };
        if (parameters.Length > 0)
            d.Dispatch().OptimizerStep(rule, parameters, gradients, settings.Momentum > 0 ? momentumBuffer : null, null, null);
    }

    /// <summary>
    /// Checks a flat parameter buffer and its gradient (same device, same length, no overlap), and an
    /// optimizer state buffer against them when given; returns the device.
    /// </summary>
    internal static Device CheckOptimizerBuffers(string op, Tensor parameters, Tensor gradients, Tensor? state, string stateRole)
    {
        var d = Check.Usable(op, parameters, "parameters");
        Check.Usable(op, gradients, "gradients", d);
        Check.SameLength(op, parameters, "parameters", gradients, "gradients");
        Check.NoOverlap(op, parameters, "parameters", gradients, "gradients");
        if (state is not null)
            CheckOptimizerBuffer(op, d, parameters, state, stateRole);
        return d;
    }

    /// <summary>Checks one optimizer state buffer: on the device, as long as the parameters, apart from them.</summary>
    internal static void CheckOptimizerBuffer(string op, Device d, Tensor parameters, Tensor state, string role)
    {
        Check.Usable(op, state, role, d);
        Check.SameLength(op, parameters, "parameters", state, role);
        Check.NoOverlap(op, state, role, parameters, "parameters");
    }
}
