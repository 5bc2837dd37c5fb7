version 1.0

# The integration test's workflow: one task that writes a one-line file naming its sample.
# The image is a parameter (HealthOmics checks an image given as a parameter before the run
# starts); it must be a private ECR image in the run's Region with a POSIX shell.

workflow IntegGreeting {
    input {
        String sample
        String docker_image
    }

    call Greet {
        input:
            sample = sample,
            docker_image = docker_image
    }

    output {
        File greeting = Greet.greeting
    }
}

task Greet {
    input {
        String sample
        String docker_image
    }

    command <<<
        echo "hello, ~{sample}" > greeting.txt
    >>>

    runtime {
        docker: docker_image
        cpu: 1
        memory: "1 GiB"
    }

    output {
        File greeting = "greeting.txt"
    }
}
